package fdk

import "golang.org/x/sys/cpu"

// haveAVX2 selects the assembly inner loop: AVX2 gathers and FMA.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func bilinearRowAVX2(dst *float32, n int, img *float32, stride int, x0, au, bu, av, bv, aw, bw float32, skip int)

// bilinearRowVector does what bilinearRow does, eight voxels at a time, and
// returns how many voxels it did (a multiple of 8): the caller finishes the
// rest.
func bilinearRowVector(dst, img []float32, stride, skip int, x0, au, bu, av, bv, aw, bw float32) int {
	n := len(dst) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	bilinearRowAVX2(&dst[0], n, &img[0], stride, x0, au, bu, av, bv, aw, bw, skip)
	return n
}
