package material

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// TestNoiseSD checks the noise estimate on a volume of known noise: a
// structure constant along z (a disc of ten times the noise, and a ramp
// across x) plus independent Gaussian noise of standard deviation 2, in
// part blurred along z as Smooth would: within 3 % of 2, the structure
// ignored, and with the blur's lag the blur's correlation ignored too;
// voxels outside the mask (a region of much larger noise) are left out.
func TestNoiseSD(t *testing.T) {
	g := fdk.Grid{Dim: [3]int{64, 64, 32}, Spacing: [3]float64{0.5, 0.5, 0.5}}
	vol := fdk.NewVolume(g)
	inside := make([]bool, g.Voxels())
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				idx := i + g.Dim[0]*(j+g.Dim[1]*k)
				v := 0.3*float64(i) + 2*rng.NormFloat64()
				if math.Hypot(float64(i-32), float64(j-32)) < 12 {
					v += 20
				}
				inside[idx] = i < 56
				if !inside[idx] {
					v += 50 * rng.NormFloat64()
				}
				vol.Data[idx] = float32(v)
			}
		}
	}
	sd, pairs := NoiseSD(vol, inside, 1)
	t.Logf("noise 2: estimated %.3f from %d pairs", sd, pairs)
	if math.Abs(sd/2-1) > 0.03 {
		t.Errorf("NoiseSD %.3f, want 2 ± 3 %%", sd)
	}
	const sigma = 0.5 // mm
	blurred := Smooth(vol, sigma, 2)
	lag := NoiseLagSlices(g.Spacing[2], sigma)
	near, _ := NoiseSD(blurred, inside, 1)
	far, _ := NoiseSD(blurred, inside, lag)
	// The blur's noise: per axis the kernel's squares' sum, here in 3D
	// (Smooth blurs x and y too).
	s := sigma / g.Spacing[0]
	sum := 0.0
	for d := -3; d <= 3; d++ {
		sum += math.Exp(-float64(d*d) / (2 * s * s))
	}
	sq := 0.0
	for d := -3; d <= 3; d++ {
		w := math.Exp(-float64(d*d)/(2*s*s)) / sum
		sq += w * w
	}
	want := 2 * math.Pow(sq, 1.5)
	t.Logf("blurred by %g mm (noise %.3f): lag 1 %.3f, lag %d %.3f", sigma, want, near, lag, far)
	if math.Abs(far/want-1) > 0.05 {
		t.Errorf("NoiseSD of the blurred volume at lag %d: %.3f, want %.3f ± 5 %%", lag, far, want)
	}
	if _, pairs := NoiseSD(vol, make([]bool, g.Voxels()), 1); pairs != 0 {
		t.Errorf("no voxel inside: %d pairs, want 0", pairs)
	}
}
