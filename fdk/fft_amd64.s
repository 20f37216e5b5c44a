#include "textflag.h"

// The Stockham stages of fft.go (see fftStage) with AVX2 and FMA: one Y
// register holds two complex128 values, those of k and k+1, so s must be
// even. Every routine has the same frame and registers:
//
//	SI  &x[s q + k]            (the input run j is at SI + j·R8)
//	DI  &y[p s q + k]          (the output run r is at DI + r·R9)
//	DX  &tw[(p-1) q]           (w^(rq) at DX + 16(r-1): real, then imaginary)
//	R8  m·s·16, R9 s·16, R10 3·R8, R11 3·R9, R12 (p-1)·s·16
//	CX  pairs of k left, BX groups q left
//	Y0-Y8 the butterfly, Y12-Y15 OUT and CMUL
//
// The inner loop advances SI and DI by 32 bytes per pair of k, which
// leaves SI on the next group's first input; DI skips the other p-1 runs.

// negodd flips the sign of the imaginary parts: with VPERMILPD $5 (swap
// the parts) it makes -i·z.
DATA negodd<>+0(SB)/8, $0x0000000000000000
DATA negodd<>+8(SB)/8, $0x8000000000000000
DATA negodd<>+16(SB)/8, $0x0000000000000000
DATA negodd<>+24(SB)/8, $0x8000000000000000
GLOBL negodd<>(SB), RODATA|NOPTR, $32

// The radix-3 and radix-5 butterflies' real constants, four copies each
// (fft.go's half, sin3, cos51, cos52, sin51, sin52).
#define CONST4(name, v) \
	DATA name<>+0(SB)/8, v; \
	DATA name<>+8(SB)/8, v; \
	DATA name<>+16(SB)/8, v; \
	DATA name<>+24(SB)/8, v; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

CONST4(half, $0.5)
CONST4(sin3, $0.86602540378443864676372317075293618347)
CONST4(cos51, $0.30901699437494742410229341718281905886)
CONST4(cos52, $-0.80901699437494742410229341718281905886)
CONST4(sin51, $0.95105651629515357211643933337938214340)
CONST4(sin52, $0.58778525229247312916870595463907276860)

// CMUL sets t to z·w, w = tw[(p-1)q + r-1] at byte offset off from DX:
// z·wr ∓ swap(z)·wi, subtracting in the real parts. Uses Y14, Y15.
#define CMUL(off, z, t) \
	VBROADCASTSD off+8(DX), Y15; \
	VPERMILPD $5, z, t; \
	VMULPD Y15, t, t; \
	VBROADCASTSD off(DX), Y14; \
	VFMADDSUB231PD Y14, z, t

// NEGI sets z to -i·z.
#define NEGI(z) \
	VPERMILPD $5, z, z; \
	VXORPD negodd<>(SB), z, z

// OUT stores u op v (VADDPD or VSUBPD: u + v or u - v) times the twiddle
// at off to dst. Uses Y12 to Y15.
#define OUT(op, u, v, off, dst) \
	op v, u, Y12; \
	CMUL(off, Y12, Y13); \
	VMOVUPD Y13, dst

// BEGIN loads the frame and the strides for radix p and opens the group
// loop (label group) and the inner loop (label inner); it jumps to done
// when there is nothing to do.
#define BEGIN(p) \
	MOVQ x+0(FP), SI; \
	MOVQ y+8(FP), DI; \
	MOVQ s+16(FP), R9; \
	MOVQ m+24(FP), BX; \
	MOVQ tw+32(FP), DX; \
	MOVQ R9, R8; \
	IMULQ BX, R8; \
	SHLQ $4, R8; \
	SHLQ $4, R9; \
	LEAQ (R8)(R8*2), R10; \
	LEAQ (R9)(R9*2), R11; \
	MOVQ R9, R12; \
	IMULQ $(p-1), R12; \
	TESTQ BX, BX; \
	JEQ done; \
	CMPQ R9, $32; \
	JLT done; \
group: \
	MOVQ s+16(FP), CX; \
	SHRQ $1, CX; \
inner:

// END closes BEGIN's loops for radix p and returns.
#define END(p) \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	DECQ CX; \
	JNZ inner; \
	ADDQ R12, DI; \
	ADDQ $((p-1)*16), DX; \
	DECQ BX; \
	JNZ group; \
done: \
	VZEROUPPER; \
	RET

// func radix2AVX2(x, y *complex128, s, m int, tw *complex128)
TEXT ·radix2AVX2(SB), NOSPLIT, $0-40
	BEGIN(2)
	VMOVUPD (SI), Y0
	VMOVUPD (SI)(R8*1), Y1
	VADDPD Y1, Y0, Y2
	VMOVUPD Y2, (DI)
	OUT(VSUBPD, Y0, Y1, 0, (DI)(R9*1))
	END(2)

// func radix3AVX2(x, y *complex128, s, m int, tw *complex128)
TEXT ·radix3AVX2(SB), NOSPLIT, $0-40
	BEGIN(3)
	VMOVUPD (SI), Y0
	VMOVUPD (SI)(R8*1), Y1
	VMOVUPD (SI)(R8*2), Y2
	VADDPD Y2, Y1, Y3           // t = a1 + a2
	VSUBPD Y2, Y1, Y4           // a1 - a2
	VADDPD Y3, Y0, Y5           // y0 = a0 + t
	VMOVUPD Y5, (DI)
	VMOVAPD Y0, Y5
	VFNMADD231PD half<>(SB), Y3, Y5 // b = a0 - t/2
	VMULPD sin3<>(SB), Y4, Y4
	NEGI(Y4)                    // d = -i·sin(2π/3)·(a1 - a2)
	OUT(VADDPD, Y5, Y4, 0, (DI)(R9*1))
	OUT(VSUBPD, Y5, Y4, 16, (DI)(R9*2))
	END(3)

// func radix4AVX2(x, y *complex128, s, m int, tw *complex128)
TEXT ·radix4AVX2(SB), NOSPLIT, $0-40
	BEGIN(4)
	VMOVUPD (SI), Y0
	VMOVUPD (SI)(R8*1), Y1
	VMOVUPD (SI)(R8*2), Y2
	VMOVUPD (SI)(R10*1), Y3
	VADDPD Y2, Y0, Y4           // t0 = a0 + a2
	VSUBPD Y2, Y0, Y5           // t1 = a0 - a2
	VADDPD Y3, Y1, Y6           // t2 = a1 + a3
	VSUBPD Y3, Y1, Y7
	NEGI(Y7)                    // t3 = -i·(a1 - a3)
	VADDPD Y6, Y4, Y0
	VMOVUPD Y0, (DI)
	OUT(VADDPD, Y5, Y7, 0, (DI)(R9*1))
	OUT(VSUBPD, Y4, Y6, 16, (DI)(R9*2))
	OUT(VSUBPD, Y5, Y7, 32, (DI)(R11*1))
	END(4)

// func radix5AVX2(x, y *complex128, s, m int, tw *complex128)
TEXT ·radix5AVX2(SB), NOSPLIT, $0-40
	BEGIN(5)
	VMOVUPD (SI), Y0
	VMOVUPD (SI)(R8*1), Y1
	VMOVUPD (SI)(R8*2), Y2
	VMOVUPD (SI)(R10*1), Y3
	VMOVUPD (SI)(R8*4), Y4
	VADDPD Y4, Y1, Y5           // t1 = a1 + a4
	VADDPD Y3, Y2, Y6           // t2 = a2 + a3
	VSUBPD Y4, Y1, Y7           // t3 = a1 - a4
	VSUBPD Y3, Y2, Y8           // t4 = a2 - a3
	VADDPD Y5, Y0, Y1
	VADDPD Y6, Y1, Y1
	VMOVUPD Y1, (DI)            // y0 = a0 + t1 + t2
	VMOVAPD Y0, Y1
	VFMADD231PD cos51<>(SB), Y5, Y1
	VFMADD231PD cos52<>(SB), Y6, Y1 // b1 = a0 + c1 t1 + c2 t2
	VMOVAPD Y0, Y2
	VFMADD231PD cos52<>(SB), Y5, Y2
	VFMADD231PD cos51<>(SB), Y6, Y2 // b2 = a0 + c2 t1 + c1 t2
	VMULPD sin51<>(SB), Y7, Y3
	VFMADD231PD sin52<>(SB), Y8, Y3
	NEGI(Y3)                    // d1 = -i·(s1 t3 + s2 t4)
	VMULPD sin52<>(SB), Y7, Y4
	VFNMADD231PD sin51<>(SB), Y8, Y4
	NEGI(Y4)                    // d2 = -i·(s2 t3 - s1 t4)
	OUT(VADDPD, Y1, Y3, 0, (DI)(R9*1))
	OUT(VSUBPD, Y1, Y3, 48, (DI)(R9*4))
	OUT(VADDPD, Y2, Y4, 16, (DI)(R9*2))
	OUT(VSUBPD, Y2, Y4, 32, (DI)(R11*1))
	END(5)
