package material

import (
	"math"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// TestMisfitRegions checks that Misfit tells misfit voxels together from
// the same number scattered: a block of 6 × 6 × 4 voxels whose bins no
// map explains lies in a misfit region, as a missing material's vial
// does; 144 voxels spread one in 18 over the volume, as noise and edges
// misfit, lie in none. Both are the same fraction of the object.
func TestMisfitRegions(t *testing.T) {
	_, bins, d := physicsDecomposer(t)
	dim := [3]int{24, 24, 12}
	g := fdk.CenteredGrid(dim, [3]float64{0.5, 0.5, 0.5}, fdk.Vec3{})
	water := 0 // Known's order
	noise := make([]float64, len(bins))
	for b := range noise {
		noise[b] = 1e-3 * d.perUnit[water][b]
	}
	inside := make([]bool, g.Voxels())
	for i := range inside {
		inside[i] = true
	}
	for _, c := range []struct {
		name    string
		misfit  func(x, y, z int) bool
		regions bool
	}{
		{"block", func(x, y, z int) bool { return x >= 8 && x < 14 && y >= 8 && y < 14 && z >= 4 && z < 8 }, true},
		{"scattered", func(x, y, z int) bool { return x%3 == 0 && y%3 == 0 && z%2 == 0 && x < 18 && y < 18 && z < 8 }, false},
	} {
		maps := make([]*fdk.Volume, len(d.Materials))
		for j := range maps {
			maps[j] = fdk.NewVolume(g)
		}
		vols := make([]*fdk.Volume, len(bins))
		n := 0
		for b := range vols {
			vols[b] = fdk.NewVolume(g)
		}
		for i := range inside {
			x, y, z := i%dim[0], i/dim[0]%dim[1], i/(dim[0]*dim[1])
			maps[water].Data[i] = 1
			for b := range vols {
				vols[b].Data[i] = float32(d.perUnit[water][b])
				if c.misfit(x, y, z) {
					vols[b].Data[i] += float32(20 * math.Hypot(noise[b], d.modelErr[b])) // χ² per bin 400
				}
			}
			if c.misfit(x, y, z) {
				n++
			}
		}
		m, err := d.Misfit(vols, maps, inside, noise, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d misfit voxels, fraction %.4f, %d in misfit regions", c.name, n, m.Fraction, m.RegionVoxels)
		if n != 144 || m.Inside != len(inside) || m.Fraction != float64(n)/float64(len(inside)) {
			t.Errorf("%s: %d misfit voxels, fraction %g of %d, want 144 of %d", c.name, n, m.Fraction, m.Inside, len(inside))
		}
		if got := m.Warns(); got != c.regions || m.RegionMM3 != float64(m.RegionVoxels)*0.125 {
			t.Errorf("%s: %d voxels in misfit regions, %g mm³: want a warning %v", c.name, m.RegionVoxels, m.RegionMM3, c.regions)
		}
	}
}
