package radiomics

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Feature is one feature value.
type Feature struct {
	// Tag is the IBSI feature tag, e.g. "stat.mean".
	Tag string `json:"tag"`
	// Code is the IBSI permanent identifier, e.g. "Q4LE".
	Code string `json:"ibsi_code"`
	// Aggregation is the IBSI aggregation method in IBSI's words ("3D,
	// averaged", "2.5D", ...), or empty for families computed once on the
	// volume (morphology, local intensity, statistics, histograms).
	Aggregation string `json:"aggregation"`
	// Value is the feature's value; NaN where IBSI leaves it undefined
	// (written as null in JSON), never ±Inf.
	Value float64 `json:"value"`
}

// MarshalJSON writes a NaN or infinite value as null, which JSON can carry.
func (f Feature) MarshalJSON() ([]byte, error) {
	type plain Feature
	v := json.RawMessage("null")
	if !math.IsNaN(f.Value) && !math.IsInf(f.Value, 0) {
		v = json.RawMessage(strconv.FormatFloat(f.Value, 'g', -1, 64))
	}
	return json.Marshal(struct {
		plain
		Value json.RawMessage `json:"value"`
	}{plain(f), v})
}

// UnmarshalJSON reads what MarshalJSON writes: null is NaN.
func (f *Feature) UnmarshalJSON(b []byte) error {
	type plain Feature
	var aux struct {
		plain
		Value *float64 `json:"value"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*f = Feature(aux.plain)
	f.Value = math.NaN()
	if aux.Value != nil {
		f.Value = *aux.Value
	}
	return nil
}

// Definition names a feature as the IBSI reference manual does.
type Definition struct {
	Tag  string `json:"tag"`
	Code string `json:"ibsi_code"`
	Name string `json:"name"`
}

// def is a feature of a family computed from its family's summary T.
type def[T any] struct {
	Definition
	value func(T) float64
}

// values evaluates every feature of a table on one summary.
func values[T any](defs []def[T], x T) []float64 {
	v := make([]float64, len(defs))
	for i, d := range defs {
		v[i] = d.value(x)
	}
	return v
}

// emit appends the features of a table with their values and aggregation.
func emit[T any](out []Feature, defs []def[T], vals []float64, aggregation string) []Feature {
	return emitDefs(out, definitions(defs), vals, aggregation)
}

// emitDefs appends features with their values and aggregation.
func emitDefs(out []Feature, defs []Definition, vals []float64, aggregation string) []Feature {
	for i, d := range defs {
		out = append(out, Feature{Tag: d.Tag, Code: d.Code, Aggregation: aggregation, Value: vals[i]})
	}
	return out
}

// definitions returns a table's definitions.
func definitions[T any](defs []def[T]) []Definition {
	out := make([]Definition, len(defs))
	for i, d := range defs {
		out[i] = d.Definition
	}
	return out
}

// family computes one family's features on a prepared ROI.
type family struct {
	defs    func() []Definition
	compute func(r *roi) []Feature
}

// familyTable maps each IBSI tag prefix to its family. It is filled by the
// families' files.
var familyTable = map[string]family{}

// Definitions returns every feature the package computes, family by family
// in the order of Families, each once (whatever its aggregations).
func Definitions() []Definition {
	var out []Definition
	for _, f := range Families {
		out = append(out, familyTable[f].defs()...)
	}
	return out
}

// Compute processes the image and mask as the settings say and returns the
// features of every family wanted, in the order of Families, each family's
// texture aggregations in IBSI's order. Errors wrap ErrInput and name the
// setting, voxel or mask at fault: an empty mask, a mask on another grid, a
// NaN or infinite voxel, a mask that interpolation or re-segmentation leave
// empty.
func Compute(img *Image, mask *Mask, s Settings) ([]Feature, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := checkInputs(img, mask); err != nil {
		return nil, err
	}
	return compute(img, mask, nil, s)
}

// ComputeInterpolated is Compute with the mask already interpolated by
// InterpolateMask under the same interpolation settings: img must be on
// the grid of mask.Source. Images on one grid with one mask (a scan's
// energy bins) then share the mask's interpolation.
func ComputeInterpolated(img *Image, mask *InterpolatedMask, s Settings) ([]Feature, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if mask == nil {
		return nil, fmt.Errorf("%w: no interpolated mask", ErrInput)
	}
	if s.Interpolation == nil || *s.Interpolation != mask.in {
		return nil, fmt.Errorf("%w: settings: interpolation: %+v, the mask was interpolated with %+v", ErrInput, s.Interpolation, mask.in)
	}
	if err := checkInputs(img, mask.Source); err != nil {
		return nil, err
	}
	return compute(img, mask.Source, mask, s)
}

// compute prepares the ROI (pre: see prepare) and computes every wanted
// family on it.
func compute(img *Image, mask *Mask, pre *InterpolatedMask, s Settings) ([]Feature, error) {
	r, err := prepare(img, mask, pre, s)
	if err != nil {
		return nil, err
	}
	var out []Feature
	for _, name := range Families {
		if s.wants(name) {
			out = append(out, familyTable[name].compute(r)...)
		}
	}
	undefineInfinities(out)
	return out, nil
}

// undefineInfinities makes NaN (undefined) any value that is ±Inf: no
// IBSI feature is infinite, so an infinity is a formula's degenerate case
// (a ratio over 0) that the manual leaves undefined for the ROI; a caller
// gets NaN, never ±Inf, which a feature record could not hold.
func undefineInfinities(feats []Feature) {
	for i := range feats {
		if math.IsInf(feats[i].Value, 0) {
			feats[i].Value = math.NaN()
		}
	}
}

// errEmpty names the processing step that left no voxel in a mask.
func errEmpty(step string) error {
	return fmt.Errorf("%w after %s", ErrEmptyROI, step)
}
