package radiomics

import "math"

// peakRadius is the radius of a 1 cm³ sphere in mm: (3/(4π))^(1/3) cm.
var peakRadius = 10 * math.Cbrt(3/(4*math.Pi))

// peaks holds the mean intensity in a 1 cm³ sphere around each voxel of
// the intensity mask (IBSI 9ST6): the sphere takes every voxel of the
// image whose centre is within peakRadius, in the ROI or not, that lies in
// the image.
type peaks struct {
	mean []float64 // per intensity-mask voxel, in array order
	x    []float64 // their intensities
}

func newPeaks(r *roi) *peaks {
	img := r.img
	var offsets [][3]int
	var reach [3]int
	for a := range 3 {
		reach[a] = int(peakRadius / img.Spacing[a])
	}
	for k := -reach[2]; k <= reach[2]; k++ {
		for j := -reach[1]; j <= reach[1]; j++ {
			for i := -reach[0]; i <= reach[0]; i++ {
				d := sq(float64(i)*img.Spacing[0]) + sq(float64(j)*img.Spacing[1]) + sq(float64(k)*img.Spacing[2])
				if d <= peakRadius*peakRadius*(1+1e-12) {
					offsets = append(offsets, [3]int{i, j, k})
				}
			}
		}
	}
	p := &peaks{}
	for n, in := range r.inten {
		if !in {
			continue
		}
		i, j, k := r.coords(n)
		i, j, k = i+r.offset[0], j+r.offset[1], k+r.offset[2]
		var sum, count float64
		for _, o := range offsets {
			a, b, c := i+o[0], j+o[1], k+o[2]
			if a >= 0 && b >= 0 && c >= 0 && a < img.Size[0] && b < img.Size[1] && c < img.Size[2] {
				sum += img.Data[img.index(a, b, c)]
				count++
			}
		}
		p.mean = append(p.mean, sum/count)
		p.x = append(p.x, r.x[n])
	}
	return p
}

// local is the largest mean around the voxels of the highest intensity.
func (p *peaks) local() float64 {
	top, best := math.Inf(-1), math.Inf(-1)
	for k, x := range p.x {
		switch {
		case x > top:
			top, best = x, p.mean[k]
		case x == top:
			best = max(best, p.mean[k])
		}
	}
	return best
}

// global is the largest mean around any voxel.
func (p *peaks) global() float64 {
	best := math.Inf(-1)
	for _, m := range p.mean {
		best = max(best, m)
	}
	return best
}

// locFeatures are IBSI's local intensity features.
var locFeatures = []def[*peaks]{
	{Definition{"loc.peak.local", "VJGA", "Local intensity peak"}, (*peaks).local},
	{Definition{"loc.peak.global", "0F91", "Global intensity peak"}, (*peaks).global},
}

func init() {
	familyTable["loc"] = family{
		defs: func() []Definition { return definitions(locFeatures) },
		compute: func(r *roi) []Feature {
			return emit(nil, locFeatures, values(locFeatures, newPeaks(r)), "")
		},
	}
}
