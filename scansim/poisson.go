package scansim

import (
	"math"
	"math/rand/v2"
)

// poissonCount draws from Poisson(lambda) exactly at every mean: by
// multiplying uniforms (Knuth) below 10, by Hörmann's transformed rejection
// with squeeze (PTRS; W. Hörmann, "The transformed rejection method for
// generating Poisson random variables", Insurance: Mathematics and
// Economics 12, 39-45, 1993) from 10 up. The simulator draws tens of
// millions of counts with means in the thousands, where counting
// exponential arrivals would be far too slow and a normal approximation
// would misplace the low tail of dark pixels.
func poissonCount(lambda float64, rng *rand.Rand) float64 {
	if !(lambda > 0) {
		return 0
	}
	if lambda < 10 {
		limit, p, n := math.Exp(-lambda), rng.Float64(), 0.0
		for p > limit {
			p *= rng.Float64()
			n++
		}
		return n
	}
	slam := math.Sqrt(lambda)
	loglam := math.Log(lambda)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invAlpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := rng.Float64() - 0.5
		v := rng.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lambda + 0.43)
		if us >= 0.07 && v <= vr {
			return k
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invAlpha)-math.Log(a/(us*us)+b) <= -lambda+k*loglam-lg {
			return k
		}
	}
}
