package scansim

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// AddPoissonNoise turns exact line integrals into those a photon-counting
// detector would measure with i0 counts per pixel in the open beam: counts
// are drawn from Poisson(i0·exp(-p)) and converted back with -log(n/i0). A
// pixel that counts nothing is given half a count: the logarithm of zero is
// undefined, and half a count is the expected value of the unseen fraction.
func AddPoissonNoise(img []float32, i0 float64, rng *rand.Rand) error {
	if !(i0 > 0) || math.IsInf(i0, 0) {
		return fmt.Errorf("noise: open-beam counts %g must be positive", i0)
	}
	for i, p := range img {
		n := poisson(i0*math.Exp(-float64(p)), rng)
		img[i] = float32(-math.Log(math.Max(n, 0.5) / i0))
	}
	return nil
}

// poisson draws from Poisson(lambda): by counting exponential arrivals for a
// small mean, by the normal approximation (error below 1e-3 relative to
// the spread) above 500.
func poisson(lambda float64, rng *rand.Rand) float64 {
	if lambda > 500 {
		return math.Max(0, math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64()))
	}
	n, t := 0.0, rng.ExpFloat64()
	for t < lambda {
		n++
		t += rng.ExpFloat64()
	}
	return n
}
