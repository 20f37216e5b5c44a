//go:build !amd64

package fdk

// haveAVX2 is false: there is no vector loop on this architecture.
var haveAVX2 = false

// bilinearRowVector has no vector version on this architecture.
func bilinearRowVector(dst, img []float32, stride, skip int, x0, au, bu, av, bv, aw, bw float32) int {
	return 0
}
