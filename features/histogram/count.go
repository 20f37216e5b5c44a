package histogram

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ctrecon/ctrecon/fdk"
)

// Histogram holds the counts of one region (a volume, a slice or an object)
// before normalisation.
type Histogram struct {
	// Counts has one entry per bin of the binning it was counted with.
	Counts []int64
	// N is the sum of Counts: the voxels counted.
	N int64
}

// add adds o's counts to h's; both have the same number of bins.
func (h *Histogram) add(o *Histogram) {
	for i, k := range o.Counts {
		h.Counts[i] += k
	}
	h.N += o.N
}

// Selection chooses the voxels a volume's histograms count and the objects
// they are split into. The zero Selection counts every voxel inside the field
// of view and has no objects.
type Selection struct {
	// Mask, when not nil, has one entry per voxel, x fastest, as
	// fdk.Volume.Data; voxels where it is false are left out of every
	// histogram.
	Mask []bool
	// Labels, when not nil, has one label per voxel, x fastest: 0 is
	// background and each positive label an object (a segmentation's label
	// image) with a histogram of its own. Objects do not change the volume's
	// and slices' histograms, which count background voxels too.
	Labels []int32
}

// Object is the histogram of the voxels of one label.
type Object struct {
	Label int32
	Histogram
}

// Counts holds a volume's histograms: the whole volume, each axial slice and
// each object.
type Counts struct {
	Binning Binning
	// Volume counts every selected voxel: the sum of Slices.
	Volume Histogram
	// Slices has one histogram per z index; a slice with no voxel counted
	// has N = 0.
	Slices []Histogram
	// Objects has one histogram per positive label with voxels counted, in
	// increasing label order.
	Objects []Object
}

// Count bins the voxels of vol by their Hounsfield units.
//
// Voxels of attenuation μ (1/mm) are converted with water's attenuation
// muWater (1/mm) to HU = 1000 (μ − muWater) / muWater and binned as Binning
// says; a voxel within rounding of a bin edge may land on either side.
//
// Voxels of exactly 0 attenuation are not counted. fdk's field-of-view mask
// sets the voxels no complete set of views sees to exactly 0, and their values
// mean nothing; counting them would put a volume's corners into the air bin
// and make the histogram depend on the grid rather than the object. A
// reconstruction inside the field of view is practically never exactly 0
// (noise and filtering leave small values even in air), and the rare voxel
// that is would be air at −1000 HU, whose share matters least. sel leaves out
// more voxels and names objects.
//
// A NaN voxel that would be counted is an error naming it; ±Inf count in the
// end bins. Errors wrap ErrInput; a volume with no voxel counted is not an
// error here (Volume.N is 0).
func Count(vol *fdk.Volume, muWater float64, b Binning, sel Selection) (*Counts, error) {
	if err := checkCount(vol, muWater, b, sel); err != nil {
		return nil, err
	}
	g := vol.Grid
	plane, nz := g.Dim[0]*g.Dim[1], g.Dim[2]
	c := &Counts{Binning: b, Slices: make([]Histogram, nz)}
	nan := make([]int, nz)

	// HU − MinHU = 1000 μ/μw − 1000 − MinHU, in bin widths.
	bin := binner{scale: 1000 / muWater / b.Width(), offset: (-1000 - b.MinHU) / b.Width(), bins: b.Bins}
	workers := min(nz, runtime.GOMAXPROCS(0))
	objects := make([]map[int32]*Histogram, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			objects[w] = map[int32]*Histogram{}
			for z := int(next.Add(1)) - 1; z < nz; z = int(next.Add(1)) - 1 {
				s := region{data: vol.Data[z*plane : (z+1)*plane]}
				if sel.Mask != nil {
					s.mask = sel.Mask[z*plane : (z+1)*plane]
				}
				if sel.Labels != nil {
					s.labels = sel.Labels[z*plane : (z+1)*plane]
				}
				c.Slices[z], nan[z] = bin.count(s, objects[w])
			}
		})
	}
	wg.Wait()

	c.Volume.Counts = make([]int64, b.Bins)
	for z := range c.Slices {
		if nan[z] >= 0 {
			return nil, fmt.Errorf("%w: voxel (%d, %d, %d) is NaN", ErrInput, nan[z]%g.Dim[0], nan[z]/g.Dim[0], z)
		}
		c.Volume.add(&c.Slices[z])
	}
	c.Objects = mergeObjects(objects, b.Bins)
	return c, nil
}

// checkCount reports the arguments Count cannot use.
func checkCount(vol *fdk.Volume, muWater float64, b Binning, sel Selection) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if vol == nil {
		return fmt.Errorf("%w: volume is nil", ErrInput)
	}
	if !(muWater > 0) || math.IsInf(muWater, 1) {
		return fmt.Errorf("%w: muWater = %g, water's attenuation must be positive and finite (1/mm)", ErrInput, muWater)
	}
	g := vol.Grid
	if g.Dim[0] < 1 || g.Dim[1] < 1 || g.Dim[2] < 1 {
		return fmt.Errorf("%w: volume dim %v, each must be at least 1", ErrInput, g.Dim)
	}
	n := g.Voxels()
	if len(vol.Data) != n {
		return fmt.Errorf("%w: volume holds %d voxels, its grid %v has %d", ErrInput, len(vol.Data), g.Dim, n)
	}
	if sel.Mask != nil && len(sel.Mask) != n {
		return fmt.Errorf("%w: mask has %d entries, the volume %v has %d voxels", ErrInput, len(sel.Mask), g.Dim, n)
	}
	if sel.Labels != nil && len(sel.Labels) != n {
		return fmt.Errorf("%w: label image has %d entries, the volume %v has %d voxels", ErrInput, len(sel.Labels), g.Dim, n)
	}
	for i, l := range sel.Labels {
		if l < 0 {
			return fmt.Errorf("%w: voxel (%d, %d, %d) has label %d, want 0 (background) or an object's positive label",
				ErrInput, i%g.Dim[0], i/g.Dim[0]%g.Dim[1], i/(g.Dim[0]*g.Dim[1]), l)
		}
	}
	return nil
}

// region is one slice's voxels with its mask and labels, either nil.
type region struct {
	data   []float32
	mask   []bool
	labels []int32
}

// binner maps an attenuation μ to bin μ·scale + offset, clamped.
type binner struct {
	scale, offset float64
	bins          int
}

// count bins the nonzero selected voxels of s, adding each labelled voxel to
// its object in objects. It returns the index of the first NaN voxel
// counted, or -1.
func (bn binner) count(s region, objects map[int32]*Histogram) (Histogram, int) {
	h := Histogram{Counts: make([]int64, bn.bins)}
	// The last object counted: runs of one label need no map look-up.
	var last int32
	var o *Histogram
	for i, m := range s.data {
		if m == 0 || (s.mask != nil && !s.mask[i]) {
			continue
		}
		if m != m {
			return h, i
		}
		f := float64(m)*bn.scale + bn.offset
		b := 0
		switch {
		case f >= float64(bn.bins):
			b = bn.bins - 1
		case f > 0:
			b = int(f)
		}
		h.Counts[b]++
		if s.labels != nil && s.labels[i] > 0 {
			if l := s.labels[i]; l != last {
				last, o = l, objects[l]
				if o == nil {
					o = &Histogram{Counts: make([]int64, bn.bins)}
					objects[l] = o
				}
			}
			o.Counts[b]++
			o.N++
		}
	}
	for _, k := range h.Counts {
		h.N += k
	}
	return h, -1
}

// mergeObjects adds up the workers' object histograms, in label order.
func mergeObjects(parts []map[int32]*Histogram, bins int) []Object {
	merged := map[int32]*Histogram{}
	for _, p := range parts {
		for l, h := range p {
			if merged[l] == nil {
				merged[l] = &Histogram{Counts: make([]int64, bins)}
			}
			merged[l].add(h)
		}
	}
	out := make([]Object, 0, len(merged))
	for l, h := range merged {
		out = append(out, Object{Label: l, Histogram: *h})
	}
	slices.SortFunc(out, func(a, b Object) int { return cmp.Compare(a.Label, b.Label) })
	return out
}
