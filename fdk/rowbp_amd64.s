#include "textflag.h"

// Lane offsets 0..7, and the constants 1 and 8, for the vector loop.
DATA lanes<>+0(SB)/4, $0.0
DATA lanes<>+4(SB)/4, $1.0
DATA lanes<>+8(SB)/4, $2.0
DATA lanes<>+12(SB)/4, $3.0
DATA lanes<>+16(SB)/4, $4.0
DATA lanes<>+20(SB)/4, $5.0
DATA lanes<>+24(SB)/4, $6.0
DATA lanes<>+28(SB)/4, $7.0
GLOBL lanes<>(SB), RODATA|NOPTR, $32

DATA one<>+0(SB)/4, $1.0
GLOBL one<>(SB), RODATA|NOPTR, $4

DATA eight<>+0(SB)/4, $8.0
GLOBL eight<>(SB), RODATA|NOPTR, $4

// func bilinearRowAVX2(dst *float32, n int, img *float32, stride int, x0, au, bu, av, bv, aw, bw float32, skip int)
//
// The gathers read at img - skip (a band of the padded image's rows: skip
// is where it starts in the whole image); the base is formed only in
// registers, and every index read lies inside img.
// Eight voxels of one volume row per iteration: w, u and v are linear in x;
// iw = 1/w; (iu, iv) truncated; four gathers read the bilinear neighbours
// at img[iv*stride+iu] + {0, 1, stride, stride+1}; dst += value * iw².
// n is a multiple of 8. Registers: Y0 x, Y8 stride, Y9 iw, Y10 fu, Y11 fv,
// Y12 dst, Y13 the 8-wide step, Y14 ones, Y1-Y7 scratch; the coefficients
// are broadcast from the argument frame each iteration (one load each) so
// that everything fits in the 16 AVX2 registers.
TEXT ·bilinearRowAVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ img+16(FP), SI
	MOVQ stride+24(FP), DX
	MOVQ skip+64(FP), AX
	SHLQ $2, AX
	SUBQ AX, SI
	LEAQ 4(SI), R8
	LEAQ (SI)(DX*4), R9
	LEAQ 4(R9), R10
	VBROADCASTSS x0+32(FP), Y0
	VADDPS lanes<>(SB), Y0, Y0
	VPBROADCASTD stride+24(FP), Y8
	VBROADCASTSS eight<>(SB), Y13
	VBROADCASTSS one<>(SB), Y14
	CMPQ CX, $8
	JL done

loop:
	VBROADCASTSS bw+56(FP), Y9
	VBROADCASTSS aw+52(FP), Y1
	VFMADD231PS Y1, Y0, Y9
	VDIVPS Y9, Y14, Y9
	VBROADCASTSS bu+40(FP), Y10
	VBROADCASTSS au+36(FP), Y1
	VFMADD231PS Y1, Y0, Y10
	VMULPS Y9, Y10, Y10
	VBROADCASTSS bv+48(FP), Y11
	VBROADCASTSS av+44(FP), Y1
	VFMADD231PS Y1, Y0, Y11
	VMULPS Y9, Y11, Y11
	VCVTTPS2DQ Y10, Y1
	VCVTTPS2DQ Y11, Y2
	VCVTDQ2PS Y1, Y3
	VSUBPS Y3, Y10, Y10
	VCVTDQ2PS Y2, Y3
	VSUBPS Y3, Y11, Y11
	VPMULLD Y8, Y2, Y2
	VPADDD Y1, Y2, Y2
	VPCMPEQD Y3, Y3, Y3
	VGATHERDPS Y3, (SI)(Y2*4), Y4
	VPCMPEQD Y3, Y3, Y3
	VGATHERDPS Y3, (R8)(Y2*4), Y5
	VPCMPEQD Y3, Y3, Y3
	VGATHERDPS Y3, (R9)(Y2*4), Y6
	VPCMPEQD Y3, Y3, Y3
	VGATHERDPS Y3, (R10)(Y2*4), Y7
	VSUBPS Y4, Y5, Y5
	VFMADD231PS Y5, Y10, Y4
	VSUBPS Y6, Y7, Y7
	VFMADD231PS Y7, Y10, Y6
	VSUBPS Y4, Y6, Y6
	VFMADD231PS Y6, Y11, Y4
	VMULPS Y9, Y9, Y9
	VMOVUPS (DI), Y12
	VFMADD231PS Y9, Y4, Y12
	VMOVUPS Y12, (DI)
	VADDPS Y13, Y0, Y0
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop

done:
	VZEROUPPER
	RET
