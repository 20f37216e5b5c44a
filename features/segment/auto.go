package segment

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
)

// Class is a material class: one of those below, or the name of the
// material whose map made the object (Settings.Maps: "iodine").
type Class string

// The material classes. Dense is what one energy bin cannot tell apart:
// iodine- or gadolinium-enhanced tissue and bone overlap in HU at every
// energy (10 mg/ml of iodine reads 200 to 800 HU in the simulated MARS
// bins, 400 mg/ml of hydroxyapatite 400 to 2600). Classified on all bins
// together, a dense object is Contrast or Bone by its spectrum (see
// Settings.JumpHU).
const (
	None     Class = "" // no object: voxels between classes
	Air      Class = "air"
	Lipid    Class = "lipid"
	Water    Class = "water" // water and unenhanced soft tissue
	Dense    Class = "dense"
	Contrast Class = "contrast"
	Bone     Class = "bone"
)

// AllBins is Settings.Bin for classifying on every bin together.
const AllBins = -1

// Settings are how Auto finds objects. Their Hash goes into feature
// records.
type Settings struct {
	// Bin is the scan's number (Bin.Index) of the energy bin whose HU
	// classify the voxels, or AllBins: then a voxel's HU is the mean of its
	// HU over the bins (water is 0 HU and air −1000 HU in every bin, and
	// the bins' counting noise is independent, so the mean is √bins less
	// noisy), and dense objects are split into contrast and bone.
	Bin int `json:"bin"`
	// Classes and ThresholdsHU partition the HU axis: Classes[i] takes
	// HU from ThresholdsHU[i-1] (inclusive; −∞ for the first) up to
	// ThresholdsHU[i] (exclusive; +∞ for the last). None makes no objects.
	Classes      []Class   `json:"classes"`
	ThresholdsHU []float64 `json:"thresholds_hu"`
	// Connectivity is 6 (voxels sharing a face are connected) or 26
	// (sharing a face, an edge or a corner).
	Connectivity int `json:"connectivity"`
	// OpeningVoxels is the radius, in voxels, of a morphological opening
	// by reconstruction (L. Vincent, IEEE Trans. Image Process. 2:176,
	// 1993) of each class: a connected component is kept only when some
	// voxel of it survives that many erosions of its class by the
	// 6-connected cross, and is then kept whole. What is nowhere 2r+1
	// voxels thick goes; what is kept keeps its exact shape. 0 for none.
	OpeningVoxels int `json:"opening_voxels"`
	// MinVolumeMM3 drops smaller objects; their voxels belong to none.
	MinVolumeMM3 float64 `json:"min_volume_mm3"`
	// JumpHU: on all bins, a dense object whose mean HU rises by more than
	// JumpHU from one bin to the next higher one is Contrast, else Bone.
	JumpHU float64 `json:"jump_hu"`
	// Maps, when Auto is given material maps, are how each map makes
	// objects of its own out of the HU classes MapClasses (MapRule);
	// EdgeFraction is the part of a map object's level at which its edge
	// is cut. All are absent (and then hash as before) when the objects
	// come from HU alone.
	Maps         []MapRule `json:"maps,omitempty"`
	MapClasses   []Class   `json:"map_classes,omitempty"`
	EdgeFraction float64   `json:"edge_fraction,omitempty"`
	// Confirm, when Auto is given material maps, draws an HU class on a
	// map instead of the HU, its other voxels taking another class
	// (ConfirmRule), before Maps take theirs. Absent (and then hashed as
	// before) without maps.
	Confirm []ConfirmRule `json:"confirm,omitempty"`
	// Mask is the SHA-256 (hex) of the mask file the objects come from
	// (FromMask); empty for objects found by HU, and then the only field
	// that counts.
	Mask string `json:"mask,omitempty"`
}

// DefaultSettings classifies on all bins by the table below, with
// 6-connectivity, an opening of 1 voxel and objects of at least 1 mm³.
//
//	class   HU from  to     why
//	air     −∞       −500   more air than tissue: halfway between air (−1000) and water (0)
//	(none)  −500     −190   between air and tissue: partial volume at the body's edge, lung
//	lipid   −190     −30    the adipose tissue range of CT body-composition studies
//	                        (Kvist et al., Am J Clin Nutr 48:1351, 1988; Mitsiopoulos et al.,
//	                        J Appl Physiol 85:115, 1998)
//	water   −30      150    water (0) and unenhanced soft tissue: the skeletal muscle range
//	                        of the same studies (−29 to +150)
//	dense   150      +∞     above unenhanced soft tissue: contrast-enhanced tissue or bone,
//	                        split on all bins by the K-edge jump (JumpHU 100)
//
// Six-connectivity (ITK's default, not fully connected) keeps objects that
// touch only at an edge or a corner apart, as noise often makes them. The
// opening by reconstruction removes components that are nowhere 3 voxels
// thick: the partial-volume shell where air meets water, whose HU pass
// through the lipid range, and specks of noise; every object it keeps
// keeps all its voxels. JumpHU 100 is far above the noise of an object's mean and far
// below the jumps of 10 mg/ml of iodine or gadolinium (about 500 and 350
// HU at their K-edges in the simulated MARS bins); bone's HU only fall
// with energy, calcium's K-edge (4 keV) being below every bin.
func DefaultSettings() Settings {
	return Settings{
		Bin:          AllBins,
		Classes:      []Class{Air, None, Lipid, Water, Dense},
		ThresholdsHU: []float64{-500, -190, -30, 150},
		Connectivity: 6, OpeningVoxels: 1, MinVolumeMM3: 1, JumpHU: 100,
	}
}

// Hash returns HashSettings of Kind and s.
func (s Settings) Hash() string { return HashSettings(Kind, s) }

// check reports the first setting that cannot work, naming its field.
func (s Settings) check() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: settings: %s: %s", ErrInput, field, fmt.Sprintf(format, args...))
	}
	switch {
	case len(s.Classes) != len(s.ThresholdsHU)+1:
		return bad("Classes", "%d classes for %d thresholds, want one more class than thresholds", len(s.Classes), len(s.ThresholdsHU))
	case len(s.Classes) > 250:
		return bad("Classes", "%d, at most 250", len(s.Classes))
	case s.Connectivity != 6 && s.Connectivity != 26:
		return bad("Connectivity", "%d, want 6 or 26", s.Connectivity)
	case s.OpeningVoxels < 0 || s.OpeningVoxels > 16:
		return bad("OpeningVoxels", "%d, want 0 to 16", s.OpeningVoxels)
	case !(s.MinVolumeMM3 >= 0) || math.IsInf(s.MinVolumeMM3, 1):
		return bad("MinVolumeMM3", "%g, must be zero or positive", s.MinVolumeMM3)
	case !(s.JumpHU > 0) || math.IsInf(s.JumpHU, 1):
		return bad("JumpHU", "%g, must be positive", s.JumpHU)
	case s.Bin < AllBins:
		return bad("Bin", "%d, want a bin's index or AllBins (-1)", s.Bin)
	}
	for i, t := range s.ThresholdsHU {
		if math.IsNaN(t) || math.IsInf(t, 0) || (i > 0 && !(t > s.ThresholdsHU[i-1])) {
			return bad("ThresholdsHU", "%v, want finite and increasing", s.ThresholdsHU)
		}
	}
	for _, c := range s.Classes {
		if c == Contrast || c == Bone {
			return bad("Classes", "%q comes from the spectrum of a dense object, it is no HU range", c)
		}
	}
	if err := s.checkMaps(); err != nil {
		return err
	}
	return s.checkConfirm()
}

// checkBins reports bins that cannot be segmented together: none, volumes
// missing or on different grids, water attenuations that are not positive,
// energies not increasing.
func checkBins(bins []Bin) error {
	if len(bins) == 0 {
		return fmt.Errorf("%w: no energy bins", ErrInput)
	}
	for i, b := range bins {
		v := b.Volume
		switch {
		case v == nil:
			return fmt.Errorf("%w: bin %d has no volume", ErrInput, b.Index)
		case v.Grid.Validate() != nil:
			return fmt.Errorf("%w: bin %d: %v", ErrInput, b.Index, v.Grid.Validate())
		case len(v.Data) != v.Grid.Voxels():
			return fmt.Errorf("%w: bin %d holds %d voxels, its grid %v has %d", ErrInput, b.Index, len(v.Data), v.Grid.Dim, v.Grid.Voxels())
		case v.Grid != bins[0].Volume.Grid:
			return fmt.Errorf("%w: bin %d is on grid %+v, bin %d on %+v", ErrInput, b.Index, v.Grid, bins[0].Index, bins[0].Volume.Grid)
		case !(b.MuWater > 0) || math.IsInf(b.MuWater, 1):
			return fmt.Errorf("%w: bin %d: water attenuation %g 1/mm, must be positive", ErrInput, b.Index, b.MuWater)
		case i > 0 && !(b.LowKeV > bins[i-1].LowKeV):
			return fmt.Errorf("%w: bin %d (%g keV) follows bin %d (%g keV): bins must come in increasing energy", ErrInput, b.Index, b.LowKeV, bins[i-1].Index, bins[i-1].LowKeV)
		}
	}
	return nil
}

// Auto finds the objects of bins (one or more energy bins of one scan, in
// increasing energy) by HU classes, as s says: each voxel gets the class
// whose HU range holds its HU (on one bin or the mean over all), or the
// class a map draws instead (s.Confirm, ConfirmRule), or the material of
// a map (one per rule of s.Maps, MapRule) that shows it, the
// connected components of each class become objects, those too thin for
// the opening or under s.MinVolumeMM3 are dropped, and on all bins (given
// more than one) dense objects become Contrast or Bone. Voxels of exactly
// 0 in the classifying bin (or in any bin, on all bins) are outside the
// field of view and in no object.
// Errors wrap ErrInput and name the setting, bin, map or voxel.
func Auto(bins []Bin, s Settings, maps ...Map) (*Segmentation, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := checkBins(bins); err != nil {
		return nil, err
	}
	use := bins
	if s.Bin != AllBins {
		i := slices.IndexFunc(bins, func(b Bin) bool { return b.Index == s.Bin })
		if i < 0 {
			return nil, fmt.Errorf("%w: settings: Bin: %d is not among the bins given", ErrInput, s.Bin)
		}
		use = bins[i : i+1]
	}
	g := bins[0].Volume.Grid
	maps, confirms, err := s.matchMaps(maps, g)
	if err != nil {
		return nil, err
	}
	class, err := classify(use, s)
	if err != nil {
		return nil, err
	}
	confirm(class, g, s, confirms, use)
	carve(class, g, s, maps)
	comp, classOf := components(class, g.Dim, s.Connectivity)
	comp, classOf = keep(g, comp, classOf, eroded(class, g.Dim, s.OpeningVoxels), s.MinVolumeMM3)
	source := "hu"
	if len(maps)+len(confirms) > 0 {
		source = "hu and material maps"
	}
	seg := &Segmentation{Grid: g, Settings: s, Source: source, Map: comp, Objects: measure(g, comp, len(classOf))}
	for o := range seg.Objects {
		seg.Objects[o].Label = int64(o + 1)
		seg.Objects[o].Class = s.class(classOf[o])
	}
	if s.Bin == AllBins && len(bins) > 1 {
		if err := seg.splitDense(bins, s.JumpHU); err != nil {
			return nil, err
		}
	}
	return seg, nil
}

// classify returns each voxel's class as 1 + its index in s.Classes, or 0
// for None and for voxels outside the field of view. Slices are classified
// in parallel; a NaN is reported in the first slice that has one.
func classify(bins []Bin, s Settings) ([]uint8, error) {
	g := bins[0].Volume.Grid
	class := make([]uint8, g.Voxels())
	codes := make([]uint8, len(s.Classes))
	for i, c := range s.Classes {
		if c != None {
			codes[i] = uint8(i + 1)
		}
	}
	// A voxel's mean HU is the sum over bins of (μ − MuWater)·scale.
	data := make([][]float32, len(bins))
	scale := make([]float64, len(bins))
	for b, bin := range bins {
		data[b], scale[b] = bin.Volume.Data, 1000/bin.MuWater/float64(len(bins))
	}
	nx, plane := g.Dim[0], g.Dim[0]*g.Dim[1]
	errs := make([]error, g.Dim[2])
	parallel.For(g.Dim[2], runtime.GOMAXPROCS(0), func(k int) {
		// Row by row, bin by bin: each voxel's sum still adds the bins in
		// order.
		hu, outside := make([]float64, nx), make([]bool, nx)
		for row := k * plane; row < (k+1)*plane; row += nx {
			clear(hu)
			clear(outside)
			nan := false
			for b, d := range data {
				w, sc := bins[b].MuWater, scale[b]
				for i, v := range d[row : row+nx] {
					x := float64(v)
					nan = nan || x != x
					outside[i] = outside[i] || x == 0
					hu[i] += (x - w) * sc
				}
			}
			if nan {
				errs[k] = firstNaN(bins, row, nx, g.Dim)
				return
			}
			for i, h := range hu {
				if !outside[i] {
					class[row+i] = codes[classIndex(s.ThresholdsHU, h)]
				}
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return class, nil
}

// firstNaN returns the error for the first NaN of the row of n voxels
// that starts at array position row, in voxel order, then bin order.
func firstNaN(bins []Bin, row, n int, dim [3]int) error {
	for i := row; i < row+n; i++ {
		for _, b := range bins {
			if x := b.Volume.Data[i]; x != x {
				return fmt.Errorf("%w: bin %d: voxel (%d, %d, %d) is NaN", ErrInput, b.Index, i%dim[0], i/dim[0]%dim[1], i/(dim[0]*dim[1]))
			}
		}
	}
	return nil
}

// classIndex returns the index of the class whose range holds hu.
func classIndex(thresholds []float64, hu float64) int {
	// The thresholds are few (4 by default): a scan beats a binary search.
	i := 0
	for i < len(thresholds) && hu >= thresholds[i] { // a threshold starts the class above it
		i++
	}
	return i
}

// splitDense makes each Dense object Contrast when its mean HU rises by
// more than jump from one bin to the next, else Bone, and keeps each bin's
// statistics for StatsOf.
func (s *Segmentation) splitDense(bins []Bin, jump float64) error {
	vols := make([]*fdk.Volume, len(bins))
	for i, b := range bins {
		vols[i] = b.Volume
	}
	stats, err := s.statsAll(vols)
	if err != nil {
		return err
	}
	means := make([][]float64, len(bins))
	s.stats = make(map[*fdk.Volume][]Stat, len(bins))
	for i, b := range bins {
		s.stats[b.Volume] = stats[i]
		means[i] = make([]float64, len(stats[i]))
		for o := range stats[i] {
			means[i][o] = b.HU(stats[i][o].Mean)
		}
	}
	for o := range s.Objects {
		if s.Objects[o].Class != Dense {
			continue
		}
		s.Objects[o].Class = Bone
		for i := 1; i < len(bins); i++ {
			if means[i][o]-means[i-1][o] > jump {
				s.Objects[o].Class = Contrast
			}
		}
	}
	return nil
}

// keep removes the components under minMM3 and those with no voxel in
// core, and renumbers the rest in order; it returns the new map and the
// classes of what is left.
func keep(g fdk.Grid, comp []int32, classOf []uint8, core []bool, minMM3 float64) ([]int32, []uint8) {
	counts := make([]int, len(classOf)+1)
	cored := make([]bool, len(classOf)+1)
	for i, c := range comp {
		counts[c]++
		cored[c] = cored[c] || core[i]
	}
	voxel := g.Spacing[0] * g.Spacing[1] * g.Spacing[2]
	renumber := make([]int32, len(classOf)+1)
	var kept []uint8
	for c := 1; c <= len(classOf); c++ {
		if cored[c] && float64(counts[c])*voxel >= minMM3 {
			kept = append(kept, classOf[c-1])
			renumber[c] = int32(len(kept))
		}
	}
	for i, c := range comp {
		comp[i] = renumber[c]
	}
	return comp, kept
}
