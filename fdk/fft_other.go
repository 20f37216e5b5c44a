//go:build !amd64

package fdk

// runVector has no vector version on this architecture.
func (st *fftStage) runVector(x, y []complex128) bool { return false }
