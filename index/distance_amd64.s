#include "textflag.h"

// Float32 distance kernels with AVX2 and FMA. Each takes two arrays of n
// float32 (n a multiple of 8; the Go caller adds the rest) and sums eight
// lanes at a time into four accumulators (32 values per iteration while
// that many remain), so that the FMA latency overlaps; the lanes are added
// up at the end.

// HSUM adds the eight lanes of Y0 and leaves the sum in the low lane of X0.
#define HSUM \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VMOVHLPS X0, X0, X1; \
	VADDPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VADDSS X1, X0, X0

// ARGS loads the arguments a, b and n shared by the kernels into SI, DI
// and CX.
#define ARGS \
	MOVQ a+0(FP), SI; \
	MOVQ b+8(FP), DI; \
	MOVQ n+16(FP), CX

// ZERO4 clears four vector registers.
#define ZERO4(r0, r1, r2, r3) \
	VXORPS r0, r0, r0; \
	VXORPS r1, r1, r1; \
	VXORPS r2, r2, r2; \
	VXORPS r3, r3, r3

// NEXT moves SI and DI on by bytes and counts n values off CX.
#define NEXT(bytes, n) \
	ADDQ $bytes, SI; \
	ADDQ $bytes, DI; \
	SUBQ $n, CX

// DIFF32 leaves a−b of the 32 values at SI and DI in Y4 to Y7.
#define DIFF32 \
	VMOVUPS (SI), Y4; \
	VMOVUPS 32(SI), Y5; \
	VMOVUPS 64(SI), Y6; \
	VMOVUPS 96(SI), Y7; \
	VSUBPS (DI), Y4, Y4; \
	VSUBPS 32(DI), Y5, Y5; \
	VSUBPS 64(DI), Y6, Y6; \
	VSUBPS 96(DI), Y7, Y7

// LOAD16 loads 16 values of a into Y4, Y5 and of b into Y6, Y7.
#define LOAD16 \
	VMOVUPS (SI), Y4; \
	VMOVUPS 32(SI), Y5; \
	VMOVUPS (DI), Y6; \
	VMOVUPS 32(DI), Y7

// LOAD8 loads 8 values of a into Y4 and of b into Y6.
#define LOAD8 \
	VMOVUPS (SI), Y4; \
	VMOVUPS (DI), Y6

// SUM4 adds the four accumulators Y0 to Y3 up into X0's low lane.
#define SUM4 \
	VADDPS Y1, Y0, Y0; \
	VADDPS Y3, Y2, Y2; \
	VADDPS Y2, Y0, Y0; \
	HSUM

// SUM2 adds the accumulators r0 and r1 up and stores the float32 sum in
// dst.
#define SUM2(r0, r1, dst) \
	VADDPS r1, r0, Y0; \
	HSUM; \
	MOVSS X0, dst

// SQL2BY32 adds the squared differences of the 32 values at SI and DI to
// the accumulators Y0 to Y3 and moves on.
#define SQL2BY32 \
	DIFF32; \
	VFMADD231PS Y4, Y4, Y0; \
	VFMADD231PS Y5, Y5, Y1; \
	VFMADD231PS Y6, Y6, Y2; \
	VFMADD231PS Y7, Y7, Y3; \
	NEXT(128, 32)

// SQL2BY8 adds the squared differences of the 8 values at SI and DI to Y0
// and moves on.
#define SQL2BY8 \
	VMOVUPS (SI), Y4; \
	VSUBPS (DI), Y4, Y4; \
	VFMADD231PS Y4, Y4, Y0; \
	NEXT(32, 8)

// func sqL2AVX2(a, b *float32, n int) float32
TEXT ·sqL2AVX2(SB), NOSPLIT, $0-28
	ARGS
	ZERO4(Y0, Y1, Y2, Y3)

l2by32:
	CMPQ CX, $32
	JL   l2by8
	SQL2BY32
	JMP  l2by32

l2by8:
	CMPQ CX, $8
	JL   l2done
	SQL2BY8
	JMP  l2by8

l2done:
	SUM4
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func l1AVX2(a, b *float32, n int) float32
TEXT ·l1AVX2(SB), NOSPLIT, $0-28
	ARGS
	ZERO4(Y0, Y1, Y2, Y3)
	VPCMPEQD Y15, Y15, Y15
	VPSRLD $1, Y15, Y15 // 0x7fffffff in each lane: clears the sign

l1by32:
	CMPQ CX, $32
	JL   l1by8
	DIFF32
	VANDPS Y15, Y4, Y4
	VANDPS Y15, Y5, Y5
	VANDPS Y15, Y6, Y6
	VANDPS Y15, Y7, Y7
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	NEXT(128, 32)
	JMP  l1by32

l1by8:
	CMPQ CX, $8
	JL   l1done
	VMOVUPS (SI), Y4
	VSUBPS (DI), Y4, Y4
	VANDPS Y15, Y4, Y4
	VADDPS Y4, Y0, Y0
	NEXT(32, 8)
	JMP  l1by8

l1done:
	SUM4
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotsAVX2(a, b *float32, n int) (ab, aa, bb float32)
//
// Two accumulators per sum, 16 values per iteration.
TEXT ·dotsAVX2(SB), NOSPLIT, $0-36
	ARGS
	ZERO4(Y8, Y9, Y10, Y11)
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13

dotby16:
	CMPQ CX, $16
	JL   dotby8
	LOAD16
	VFMADD231PS Y4, Y6, Y8
	VFMADD231PS Y5, Y7, Y9
	VFMADD231PS Y4, Y4, Y10
	VFMADD231PS Y5, Y5, Y11
	VFMADD231PS Y6, Y6, Y12
	VFMADD231PS Y7, Y7, Y13
	NEXT(64, 16)
	JMP  dotby16

dotby8:
	CMPQ CX, $8
	JL   dotdone
	LOAD8
	VFMADD231PS Y4, Y6, Y8
	VFMADD231PS Y4, Y4, Y10
	VFMADD231PS Y6, Y6, Y12
	NEXT(32, 8)
	JMP  dotby8

dotdone:
	SUM2(Y8, Y9, ab+24(FP))
	SUM2(Y10, Y11, aa+28(FP))
	SUM2(Y12, Y13, bb+32(FP))
	VZEROUPPER
	RET

// func minMaxAVX2(a, b *float32, n int) (lo, hi float32)
//
// Σ min(aᵢ, bᵢ) and Σ max(aᵢ, bᵢ), two accumulators each.
TEXT ·minMaxAVX2(SB), NOSPLIT, $0-32
	ARGS
	ZERO4(Y8, Y9, Y10, Y11)

mmby16:
	CMPQ CX, $16
	JL   mmby8
	LOAD16
	VMINPS Y6, Y4, Y2
	VMINPS Y7, Y5, Y3
	VMAXPS Y6, Y4, Y4
	VMAXPS Y7, Y5, Y5
	VADDPS Y2, Y8, Y8
	VADDPS Y3, Y9, Y9
	VADDPS Y4, Y10, Y10
	VADDPS Y5, Y11, Y11
	NEXT(64, 16)
	JMP  mmby16

mmby8:
	CMPQ CX, $8
	JL   mmdone
	LOAD8
	VMINPS Y6, Y4, Y2
	VMAXPS Y6, Y4, Y4
	VADDPS Y2, Y8, Y8
	VADDPS Y4, Y10, Y10
	NEXT(32, 8)
	JMP  mmby8

mmdone:
	SUM2(Y8, Y9, lo+24(FP))
	SUM2(Y10, Y11, hi+28(FP))
	VZEROUPPER
	RET

// func prefetchAsm(p *float32, n int)
//
// Asks for the n float32 from p in the cache (PREFETCHT0 every 64 bytes).
TEXT ·prefetchAsm(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ (SI)(CX*4), DI

pfloop:
	PREFETCHT0 (SI)
	ADDQ $64, SI
	CMPQ SI, DI
	JL   pfloop
	RET

// SQD4 adds the squared differences of the four float32 at off(SI) and
// off(DI), widened to float64, to the four lanes of Y0.
#define SQD4(off) \
	VCVTPS2PD off(SI), Y1; \
	VCVTPS2PD off(DI), Y2; \
	VSUBPD Y2, Y1, Y1; \
	VMULPD Y1, Y1, Y1; \
	VADDPD Y1, Y0, Y0

// func sqDistAVX2(a, b *float32, n int, bound float64) float64
//
// The float64 squared Euclidean distance of sqDist for n a multiple of 16:
// lane j of Y0 sums the terms i ≡ j (mod 4) in order, as sqDist's four
// accumulators do, and after every 16 values the partial sum
// (s0+s2)+(s1+s3) is returned as soon as it exceeds bound.
TEXT ·sqDistAVX2(SB), NOSPLIT, $0-40
	ARGS
	MOVSD bound+24(FP), X5
	VXORPD Y0, Y0, Y0

d64loop:
	SQD4(0)
	SQD4(16)
	SQD4(32)
	SQD4(48)
	ADDQ $64, SI
	ADDQ $64, DI
	VEXTRACTF128 $1, Y0, X3
	VADDPD X3, X0, X3
	VUNPCKHPD X3, X3, X4
	VADDSD X4, X3, X3
	UCOMISD X5, X3
	JA   d64done
	SUBQ $16, CX
	JG   d64loop

d64done:
	VZEROUPPER
	MOVSD X3, ret+32(FP)
	RET

// func sqL2GatherAVX2(q, data *float32, stride int, ids *uint32, n, dim, last int, out *float32) int
//
// out[j] = sqL2AVX2(q, data + ids[j]·stride, dim) for j < n, summed in
// sqL2AVX2's order (the same float32 to the bit), in one call: while
// vector j is measured, vector j+1 is on its way to the cache (PREFETCHT0
// of each of its 64-byte lines). Returns n, or the first j whose vector
// starts beyond byte last of data (ids[j]·stride·4 > last), having
// measured none from j on. stride and dim count float32; dim is a
// multiple of 8, not 0.
TEXT ·sqL2GatherAVX2(SB), NOSPLIT, $0-72
	MOVQ data+8(FP), R8
	MOVQ stride+16(FP), R9
	SHLQ $2, R9 // bytes
	MOVQ ids+24(FP), R10
	MOVQ n+32(FP), R11
	MOVQ dim+40(FP), R12
	MOVQ last+48(FP), R13
	XORQ BX, BX
	CMPQ R11, $0
	JLE  gdone

gloop:
	MOVL (R10)(BX*4), AX
	IMULQ R9, AX
	CMPQ AX, R13
	JA   gdone
	LEAQ (R8)(AX*1), DI

	// prefetch vector j+1 from its first byte (AX) to its last (DX); its
	// id is not checked yet, but a prefetch never faults
	LEAQ 1(BX), DX
	CMPQ DX, R11
	JGE  gmeasure
	MOVL (R10)(DX*4), AX
	IMULQ R9, AX
	ADDQ R8, AX
	LEAQ -4(AX)(R12*4), DX

gpf:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	CMPQ AX, DX
	JL   gpf
	PREFETCHT0 (DX)

gmeasure:
	MOVQ q+0(FP), SI
	MOVQ R12, CX
	ZERO4(Y0, Y1, Y2, Y3)

gby32:
	CMPQ CX, $32
	JL   gby8
	SQL2BY32
	JMP  gby32

gby8:
	CMPQ CX, $8
	JL   gsum
	SQL2BY8
	JMP  gby8

gsum:
	SUM4
	MOVQ out+56(FP), AX
	MOVSS X0, (AX)(BX*4)
	INCQ BX
	CMPQ BX, R11
	JL   gloop

gdone:
	VZEROUPPER
	MOVQ BX, ret+64(FP)
	RET

// func sqL2Gather4AVX(q, data *float32, stride int, ids *uint32, n, last int, out *float32) int
//
// out[j] = sqL2Go(q, data + ids[j]·stride) for vectors of 4 values and
// j < n, to the bit: the four squared differences in one register, added
// as (d0²+d1²)+(d2²+d3²), as sqL2Go adds its four sums, by two shuffles
// and two adds (two VHADDPS did the same additions in more micro-ops).
// Returns n, or the first j whose vector starts beyond byte last of data
// (ids[j]·stride·4 > last), having measured none from j on. stride counts
// float32.
TEXT ·sqL2Gather4AVX(SB), NOSPLIT, $0-64
	MOVQ q+0(FP), SI
	MOVQ data+8(FP), R8
	MOVQ stride+16(FP), R9
	SHLQ $2, R9 // bytes
	MOVQ ids+24(FP), R10
	MOVQ n+32(FP), R11
	MOVQ last+40(FP), R13
	MOVQ out+48(FP), DI
	VMOVUPS (SI), X0
	XORQ BX, BX
	CMPQ R11, $0
	JLE  g4done

g4loop:
	MOVL (R10)(BX*4), AX
	IMULQ R9, AX
	CMPQ AX, R13
	JA   g4done
	VSUBPS (R8)(AX*1), X0, X1
	VMULPS X1, X1, X1
	VMOVSHDUP X1, X2     // d1², d1², d3², d3²
	VADDPS X2, X1, X1    // d0²+d1², ., d2²+d3², .
	VMOVHLPS X1, X1, X2  // d2²+d3², ...
	VADDSS X2, X1, X1    // (d0²+d1²)+(d2²+d3²)
	VMOVSS X1, (DI)(BX*4)
	INCQ BX
	CMPQ BX, R11
	JL   g4loop

g4done:
	MOVQ BX, ret+56(FP)
	RET
