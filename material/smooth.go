package material

import (
	"math"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/separable"
)

// Smooth returns vol convolved with a 3D Gaussian of standard deviation
// sigmaMM, separably along x, y and z, the kernel cut at 3σ and
// renormalised where it leaves the volume: the optional spatial
// regularisation of a decomposition. Noise that the near-dependence of
// the materials amplifies (water, lipid and hydroxyapatite differ little
// in shape across the bins) is cut before the non-negativity constraint
// turns it into bias; edges blur by about σ. A σ of zero returns vol.
func Smooth(vol *fdk.Volume, sigmaMM float64, threads int) *fdk.Volume {
	if !(sigmaMM > 0) {
		return vol
	}
	out := &fdk.Volume{Grid: vol.Grid, Data: append([]float32(nil), vol.Data...)}
	g := vol.Grid
	for axis := range 3 {
		s := sigmaMM / g.Spacing[axis]
		half := int(math.Ceil(3 * s))
		kernel := make([]float64, 2*half+1)
		for i := range kernel {
			d := float64(i - half)
			kernel[i] = math.Exp(-d * d / (2 * s * s))
		}
		n := g.Dim[axis]
		separable.Lines(g.Dim, axis, threads, out.Data, func(line []float64, start, step int) {
			for i := range n {
				var sum, wsum float64
				for k := max(0, i-half); k <= min(n-1, i+half); k++ {
					w := kernel[k-i+half]
					sum += w * line[k]
					wsum += w
				}
				out.Data[start+i*step] = float32(sum / wsum)
			}
		})
	}
	return out
}
