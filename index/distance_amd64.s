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

// func sqL2AVX2(a, b *float32, n int) float32
TEXT ·sqL2AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

l2by32:
	CMPQ CX, $32
	JL   l2by8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VSUBPS (DI), Y4, Y4
	VSUBPS 32(DI), Y5, Y5
	VSUBPS 64(DI), Y6, Y6
	VSUBPS 96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  l2by32

l2by8:
	CMPQ CX, $8
	JL   l2done
	VMOVUPS (SI), Y4
	VSUBPS (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  l2by8

l2done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func l1AVX2(a, b *float32, n int) float32
TEXT ·l1AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VPCMPEQD Y15, Y15, Y15
	VPSRLD $1, Y15, Y15 // 0x7fffffff in each lane: clears the sign

l1by32:
	CMPQ CX, $32
	JL   l1by8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VSUBPS (DI), Y4, Y4
	VSUBPS 32(DI), Y5, Y5
	VSUBPS 64(DI), Y6, Y6
	VSUBPS 96(DI), Y7, Y7
	VANDPS Y15, Y4, Y4
	VANDPS Y15, Y5, Y5
	VANDPS Y15, Y6, Y6
	VANDPS Y15, Y7, Y7
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  l1by32

l1by8:
	CMPQ CX, $8
	JL   l1done
	VMOVUPS (SI), Y4
	VSUBPS (DI), Y4, Y4
	VANDPS Y15, Y4, Y4
	VADDPS Y4, Y0, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  l1by8

l1done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotsAVX2(a, b *float32, n int) (ab, aa, bb float32)
//
// Two accumulators per sum, 16 values per iteration.
TEXT ·dotsAVX2(SB), NOSPLIT, $0-36
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13

dotby16:
	CMPQ CX, $16
	JL   dotby8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS (DI), Y6
	VMOVUPS 32(DI), Y7
	VFMADD231PS Y4, Y6, Y8
	VFMADD231PS Y5, Y7, Y9
	VFMADD231PS Y4, Y4, Y10
	VFMADD231PS Y5, Y5, Y11
	VFMADD231PS Y6, Y6, Y12
	VFMADD231PS Y7, Y7, Y13
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  dotby16

dotby8:
	CMPQ CX, $8
	JL   dotdone
	VMOVUPS (SI), Y4
	VMOVUPS (DI), Y6
	VFMADD231PS Y4, Y6, Y8
	VFMADD231PS Y4, Y4, Y10
	VFMADD231PS Y6, Y6, Y12
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  dotby8

dotdone:
	VADDPS Y9, Y8, Y0
	HSUM
	MOVSS X0, ab+24(FP)
	VADDPS Y11, Y10, Y0
	HSUM
	MOVSS X0, aa+28(FP)
	VADDPS Y13, Y12, Y0
	HSUM
	MOVSS X0, bb+32(FP)
	VZEROUPPER
	RET

// func minMaxAVX2(a, b *float32, n int) (lo, hi float32)
//
// Σ min(aᵢ, bᵢ) and Σ max(aᵢ, bᵢ), two accumulators each.
TEXT ·minMaxAVX2(SB), NOSPLIT, $0-32
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

mmby16:
	CMPQ CX, $16
	JL   mmby8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS (DI), Y6
	VMOVUPS 32(DI), Y7
	VMINPS Y6, Y4, Y2
	VMINPS Y7, Y5, Y3
	VMAXPS Y6, Y4, Y4
	VMAXPS Y7, Y5, Y5
	VADDPS Y2, Y8, Y8
	VADDPS Y3, Y9, Y9
	VADDPS Y4, Y10, Y10
	VADDPS Y5, Y11, Y11
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  mmby16

mmby8:
	CMPQ CX, $8
	JL   mmdone
	VMOVUPS (SI), Y4
	VMOVUPS (DI), Y6
	VMINPS Y6, Y4, Y2
	VMAXPS Y6, Y4, Y4
	VADDPS Y2, Y8, Y8
	VADDPS Y4, Y10, Y10
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  mmby8

mmdone:
	VADDPS Y9, Y8, Y0
	HSUM
	MOVSS X0, lo+24(FP)
	VADDPS Y11, Y10, Y0
	HSUM
	MOVSS X0, hi+28(FP)
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
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
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
