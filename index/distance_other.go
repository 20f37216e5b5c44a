//go:build !amd64

package index

// simd is false: there are no vector kernels for this architecture, and the
// functions below are never called.
const simd = false

func sqL2Vec(a, b []float32) float32                  { panic("no vector kernels") }
func l1Vec(a, b []float32) float32                    { panic("no vector kernels") }
func dotsVec(a, b []float32) (ab, aa, bb float32)     { panic("no vector kernels") }
func minMaxVec(a, b []float32) (lo, hi float32)       { panic("no vector kernels") }
func sqDistVec(a, b []float32, bound float64) float64 { panic("no vector kernels") }

func sqL2Ranks(q, data []float32, stride int, ids []uint32, out []float32) {
	panic("no vector kernels")
}

func setSIMD(bool) {}

// Prefetch does nothing on this architecture (see the amd64 version).
func Prefetch(v []float32) {}
