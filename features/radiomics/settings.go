package radiomics

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// Interpolation and discretisation methods, as Settings spell them.
const (
	Nearest = "nearest" // nearest neighbour
	Linear  = "linear"  // bilinear in-plane, trilinear in 3D
	Cubic   = "cubic"   // cubic B-spline (IBSI's "tricubic spline"), with its prefilter

	FixedBinNumber   = "fixed-bin-number" // IBSI K15C: Bins bins between the ROI's minimum and maximum
	FixedBinSize     = "fixed-bin-size"   // IBSI Q3RU: bins of BinWidth from a minimum
	NoDiscretisation = "none"             // for the IVH only: calibrated discrete intensities (CT), step 1
)

// Texture aggregation groups, as Settings spell them (see Texture).
const (
	Agg2D  = "2D"
	Agg25D = "2.5D"
	Agg3D  = "3D"
)

// Settings is a complete IBSI image-processing and feature configuration.
// It is JSON-serialisable; Preset gives IBSI's reference configurations.
type Settings struct {
	// Interpolation resamples image and mask; nil keeps the original grid.
	Interpolation *Interpolation `json:"interpolation,omitempty"`
	// Resegmentation makes the intensity mask from the morphological one.
	Resegmentation Resegmentation `json:"resegmentation"`
	// Discretisation for the intensity histogram and the texture families.
	Discretisation Discretisation `json:"discretisation"`
	// IVH is the discretisation of the intensity-volume histogram.
	IVH Discretisation `json:"ivh_discretisation"`
	// Texture chooses the texture matrices' aggregation and distances.
	Texture Texture `json:"texture"`
	// Families lists the families to compute by IBSI tag prefix (morph,
	// loc, stat, ih, ivh, cm, rlm, szm, dzm, ngt, ngl); empty means all.
	Families []string `json:"families,omitempty"`
}

// Interpolation resamples to a new voxel spacing on IBSI's grid: the new
// grid has ceil(n·s/s') voxels along each axis and the same centre as the
// original (IBSI "align grid centers", 3WE3); values beyond the original's
// edge are the edge's (padding by the nearest boundary intensity).
type Interpolation struct {
	// Spacing is the new spacing in mm, x, y, z; with InPlane, z is kept
	// and Spacing[2] is ignored.
	Spacing [3]float64 `json:"spacing_mm"`
	// InPlane resamples each slice alone (IBSI's 2D interpolation).
	InPlane bool `json:"in_plane,omitempty"`
	// Method is the image's: Nearest, Linear or Cubic.
	Method string `json:"method"`
	// MaskMethod is the mask's: Nearest or Linear (IBSI advises these two).
	MaskMethod string `json:"mask_method"`
	// MaskThreshold is the partial-volume threshold: a resampled mask value
	// at or above it is inside (IBSI uses 0.5).
	MaskThreshold float64 `json:"mask_threshold"`
	// Round rounds resampled intensities to integers (CT: whole HU).
	Round bool `json:"round"`
}

// Resegmentation removes voxels from the intensity mask by their
// intensity. With both a range and the outlier filter, the outlier
// filter's mean and SD are those of the voxels left by the range.
type Resegmentation struct {
	// Min and Max bound the kept intensities, inclusive; nil is unbounded.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// OutlierSD, when positive, keeps only intensities within mean ±
	// OutlierSD·SD of the ROI (IBSI uses 3).
	OutlierSD float64 `json:"outlier_sd,omitempty"`
}

// Discretisation bins intensities into grey levels 1, 2, ...
type Discretisation struct {
	// Method is FixedBinNumber, FixedBinSize, or (for the IVH only)
	// NoDiscretisation.
	Method string `json:"method"`
	// Bins is the number of bins of FixedBinNumber.
	Bins int `json:"bins,omitempty"`
	// BinWidth is the width of FixedBinSize's bins, in intensity units.
	BinWidth float64 `json:"bin_width,omitempty"`
	// Min is where FixedBinSize's first bin starts; nil means the
	// re-segmentation range's lower bound, or without one the ROI's lowest
	// intensity.
	Min *float64 `json:"min,omitempty"`
}

// Texture configures the texture families.
type Texture struct {
	// Aggregations lists Agg2D (features per slice, averaged), Agg25D
	// (slices' matrices merged) and Agg3D (volume matrices): each gives the
	// IBSI aggregation methods of that group.
	Aggregations []string `json:"aggregations"`
	// Distance is the Chebyshev distance δ of GLCM neighbours and of the
	// NGTDM and NGLDM neighbourhoods (IBSI default 1).
	Distance int `json:"distance"`
	// ZoneDistance is the Chebyshev distance linking voxels into GLSZM and
	// GLDZM zones (1: 26-connected in 3D, 8-connected in 2D).
	ZoneDistance int `json:"zone_distance"`
	// NGLDMCoarseness is the NGLDM coarseness α: neighbours whose grey
	// levels differ by at most α are dependent (IBSI default 0).
	NGLDMCoarseness int `json:"ngldm_coarseness"`
}

func ptr(v float64) *float64 { return &v }

// presets are IBSI's reference configurations (reference manual, chapter
// "Reference data sets"): the digital phantom's, and A to E of the CT
// radiomics phantom.
var presets = map[string]func() Settings{
	"ibsi-phantom": func() Settings {
		return Settings{
			Discretisation: Discretisation{Method: FixedBinSize, BinWidth: 1},
			IVH:            Discretisation{Method: NoDiscretisation},
			Texture:        texture(Agg2D, Agg25D, Agg3D),
		}
	},
	"ibsi-a": func() Settings {
		return Settings{
			Resegmentation: Resegmentation{Min: ptr(-500), Max: ptr(400)},
			Discretisation: Discretisation{Method: FixedBinSize, BinWidth: 25},
			IVH:            Discretisation{Method: NoDiscretisation},
			Texture:        texture(Agg2D, Agg25D),
		}
	},
	"ibsi-b": func() Settings {
		return Settings{
			Interpolation:  to2mm(true, Linear),
			Resegmentation: Resegmentation{Min: ptr(-500), Max: ptr(400)},
			Discretisation: Discretisation{Method: FixedBinNumber, Bins: 32},
			IVH:            Discretisation{Method: NoDiscretisation},
			Texture:        texture(Agg2D, Agg25D),
		}
	},
	"ibsi-c": func() Settings {
		return Settings{
			Interpolation:  to2mm(false, Linear),
			Resegmentation: Resegmentation{Min: ptr(-1000), Max: ptr(400)},
			Discretisation: Discretisation{Method: FixedBinSize, BinWidth: 25},
			IVH:            Discretisation{Method: FixedBinSize, BinWidth: 2.5},
			Texture:        texture(Agg3D),
		}
	},
	"ibsi-d": func() Settings {
		return Settings{
			Interpolation:  to2mm(false, Linear),
			Resegmentation: Resegmentation{OutlierSD: 3},
			Discretisation: Discretisation{Method: FixedBinNumber, Bins: 32},
			IVH:            Discretisation{Method: NoDiscretisation},
			Texture:        texture(Agg3D),
		}
	},
	"ibsi-e": func() Settings {
		return Settings{
			Interpolation:  to2mm(false, Cubic),
			Resegmentation: Resegmentation{Min: ptr(-1000), Max: ptr(400), OutlierSD: 3},
			Discretisation: Discretisation{Method: FixedBinNumber, Bins: 32},
			IVH:            Discretisation{Method: FixedBinNumber, Bins: 1000},
			Texture:        texture(Agg3D),
		}
	},
}

// to2mm is IBSI's interpolation of CT to 2 mm voxels (in-plane only, or
// 3D): the image by method, the mask by linear interpolation kept at 0.5,
// intensities rounded to whole HU.
func to2mm(inPlane bool, method string) *Interpolation {
	return &Interpolation{Spacing: [3]float64{2, 2, 2}, InPlane: inPlane, Method: method, MaskMethod: Linear, MaskThreshold: 0.5, Round: true}
}

// texture is IBSI's texture configuration for the aggregation groups:
// distances 1, NGLDM coarseness 0.
func texture(aggregations ...string) Texture {
	return Texture{Aggregations: aggregations, Distance: 1, ZoneDistance: 1}
}

// PresetNames returns the names Preset knows, sorted: ibsi-a to ibsi-e
// (the CT phantom's configurations) and ibsi-phantom.
func PresetNames() []string {
	return slices.Sorted(maps.Keys(presets))
}

// Preset returns IBSI's configuration of that name (see PresetNames).
func Preset(name string) (Settings, error) {
	p, ok := presets[name]
	if !ok {
		return Settings{}, fmt.Errorf("%w: unknown preset %q (known: %v)", ErrInput, name, PresetNames())
	}
	return p(), nil
}

// MustPreset is Preset for a name known to exist; it panics otherwise.
func MustPreset(name string) Settings {
	s, err := Preset(name)
	if err != nil {
		panic(err)
	}
	return s
}

// Families lists the feature families by IBSI tag prefix, in output order.
var Families = []string{"morph", "loc", "stat", "ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl"}

// Validate checks the settings, naming the first bad field.
func (s Settings) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: settings: %s: %s", ErrInput, field, fmt.Sprintf(format, args...))
	}
	if in := s.Interpolation; in != nil {
		axes := 3
		if in.InPlane {
			axes = 2
		}
		for a := range axes {
			if v := in.Spacing[a]; !(v > 0) || math.IsInf(v, 0) {
				return bad("interpolation.spacing_mm", "%v: want positive finite spacings", in.Spacing[:axes])
			}
		}
		if !slices.Contains([]string{Nearest, Linear, Cubic}, in.Method) {
			return bad("interpolation.method", "%q: want %s, %s or %s", in.Method, Nearest, Linear, Cubic)
		}
		if !slices.Contains([]string{Nearest, Linear}, in.MaskMethod) {
			return bad("interpolation.mask_method", "%q: want %s or %s", in.MaskMethod, Nearest, Linear)
		}
		if !(in.MaskThreshold > 0 && in.MaskThreshold <= 1) {
			return bad("interpolation.mask_threshold", "%v: want a fraction in (0, 1]", in.MaskThreshold)
		}
	}
	r := s.Resegmentation
	for name, v := range map[string]*float64{"resegmentation.min": r.Min, "resegmentation.max": r.Max} {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
			return bad(name, "%v is not finite", *v)
		}
	}
	if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
		return bad("resegmentation", "min %v is above max %v", *r.Min, *r.Max)
	}
	if r.OutlierSD < 0 || math.IsNaN(r.OutlierSD) || math.IsInf(r.OutlierSD, 0) {
		return bad("resegmentation.outlier_sd", "%v: want 0 (off) or a positive number of SDs", r.OutlierSD)
	}
	if err := s.Discretisation.validate("discretisation", false); err != nil {
		return err
	}
	if err := s.IVH.validate("ivh_discretisation", true); err != nil {
		return err
	}
	t := s.Texture
	for _, a := range t.Aggregations {
		if !slices.Contains([]string{Agg2D, Agg25D, Agg3D}, a) {
			return bad("texture.aggregations", "%q: want %s, %s or %s", a, Agg2D, Agg25D, Agg3D)
		}
	}
	if t.Distance < 1 {
		return bad("texture.distance", "%d: want 1 or more", t.Distance)
	}
	if t.ZoneDistance < 1 {
		return bad("texture.zone_distance", "%d: want 1 or more", t.ZoneDistance)
	}
	if t.NGLDMCoarseness < 0 {
		return bad("texture.ngldm_coarseness", "%d: want 0 or more", t.NGLDMCoarseness)
	}
	for _, f := range s.Families {
		if !slices.Contains(Families, f) {
			return bad("families", "%q: want some of %v", f, Families)
		}
	}
	return nil
}

func (d Discretisation) validate(field string, ivh bool) error {
	switch {
	case d.Method == FixedBinNumber:
		if d.Bins < 1 {
			return fmt.Errorf("%w: settings: %s.bins: %d: want 1 or more", ErrInput, field, d.Bins)
		}
	case d.Method == FixedBinSize:
		if !(d.BinWidth > 0) || math.IsInf(d.BinWidth, 0) {
			return fmt.Errorf("%w: settings: %s.bin_width: %v: want a positive width", ErrInput, field, d.BinWidth)
		}
		if d.Min != nil && (math.IsNaN(*d.Min) || math.IsInf(*d.Min, 0)) {
			return fmt.Errorf("%w: settings: %s.min: %v is not finite", ErrInput, field, *d.Min)
		}
	case d.Method == NoDiscretisation && ivh:
	default:
		want := fmt.Sprintf("%s or %s", FixedBinNumber, FixedBinSize)
		if ivh {
			want = fmt.Sprintf("%s, %s or %s", FixedBinNumber, FixedBinSize, NoDiscretisation)
		}
		return fmt.Errorf("%w: settings: %s.method: %q: want %s", ErrInput, field, d.Method, want)
	}
	return nil
}

// wants reports whether the family (an IBSI tag prefix) is to be computed.
func (s Settings) wants(family string) bool {
	return len(s.Families) == 0 || slices.Contains(s.Families, family)
}

// aggregates reports whether the texture aggregation group is wanted.
func (s Settings) aggregates(group string) bool {
	return slices.Contains(s.Texture.Aggregations, group)
}
