package segment

import (
	"fmt"
	"math"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
)

// MapRule says how one material's map (a material decomposition's
// amount per voxel) makes objects of its own (Settings.Maps): the voxels
// where the map shows the material are taken out of their HU classes, and
// their connected components, under the same opening and minimum volume as
// the HU classes', become objects whose class is the material's name.
//
// A voxel of one of the HU classes Settings.MapClasses shows the material
// when the map exceeds the detection threshold max(Floor, NoiseSDs × the
// map's noise per voxel (Map.NoiseSD)). Of each
// connected component of such voxels, only those at or above
// Settings.EdgeFraction of the component's level (its
// LevelQuantile-quantile, which is the material's amount inside it and is
// robust to the noise of single voxels) are kept: the blurred rim between
// the detection threshold and that cut reads partial volumes, and an
// object that kept it would be larger than the thing it is and read a
// diluted amount. With EdgeFraction ½ the edge lies where the blurred step
// of an object's boundary is halfway (full width at half maximum), at the
// boundary itself.
type MapRule struct {
	// Material names the map (Map.Material), and is its objects' class.
	Material string `json:"material"`
	// Unit is the map's unit (mg/mL), which Floor is in.
	Unit     string  `json:"unit"`
	NoiseSDs float64 `json:"noise_sds"`
	Floor    float64 `json:"floor"`
}

// LevelQuantile is the quantile of a map's values over a component of
// voxels above the detection threshold that stands for the material's
// amount in it (MapRule): high enough to be the plateau inside an object
// rather than the rim around it, and not the maximum, which is noise.
const LevelQuantile = 0.9

// Map is one material's map, given to Auto for the rule of Settings.Maps
// of the same material.
type Map struct {
	Material string
	// Volume is the amount per voxel, in the rule's unit, on the bins'
	// grid.
	Volume *fdk.Volume
	// NoiseSD is the map's noise per voxel, in its unit; 0 where it was
	// not measured, and then the rule's floor alone is the threshold.
	NoiseSD float64
}

// Threshold returns the detection threshold of a map whose noise per voxel
// is noiseSD, in the map's unit.
func (r MapRule) Threshold(noiseSD float64) float64 {
	return max(r.Floor, r.NoiseSDs*noiseSD)
}

// checkMaps reports the first rule of s.Maps that cannot work, naming it.
func (s Settings) checkMaps() error {
	if len(s.Maps) == 0 {
		return nil
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: settings: %s: %s", ErrInput, field, fmt.Sprintf(format, args...))
	}
	if !(s.EdgeFraction >= 0 && s.EdgeFraction < 1) {
		return bad("EdgeFraction", "%g, want 0 or more and under 1", s.EdgeFraction)
	}
	for _, c := range s.MapClasses {
		if !slices.Contains(s.Classes, c) {
			return bad("MapClasses", "%q is none of the classes %v", c, s.Classes)
		}
	}
	if n := len(s.Classes) + len(s.Maps); n > 250 {
		return bad("Maps", "%d classes and maps, at most 250", n)
	}
	for i, r := range s.Maps {
		switch c := Class(r.Material); {
		case r.Material == "" || slices.Contains(s.Classes, c) || c == Contrast || c == Bone:
			return bad("Maps", "material %q: want a name that is no other class", r.Material)
		case slices.ContainsFunc(s.Maps[:i], func(o MapRule) bool { return o.Material == r.Material }):
			return bad("Maps", "material %q twice", r.Material)
		case !(r.NoiseSDs >= 0) || math.IsInf(r.NoiseSDs, 1):
			return bad("Maps", "%s: noise_sds %g, want zero or positive", r.Material, r.NoiseSDs)
		case !(r.Floor > 0) || math.IsInf(r.Floor, 1):
			return bad("Maps", "%s: floor %g %s, want positive", r.Material, r.Floor, r.Unit)
		}
	}
	return nil
}

// matchMaps returns the maps of s.Maps' rules and of s.Confirm's, each in
// its rules' order, or an error naming the rule without a map, the map
// without a rule, or the map not on grid g, of a negative noise or with a
// NaN voxel.
func (s Settings) matchMaps(maps []Map, g fdk.Grid) (rules, confirms []Map, err error) {
	for _, m := range maps {
		if !slices.ContainsFunc(s.Maps, func(r MapRule) bool { return r.Material == m.Material }) &&
			!slices.ContainsFunc(s.Confirm, func(r ConfirmRule) bool { return r.Material == m.Material }) {
			return nil, nil, fmt.Errorf("%w: the %s map is given, and no rule of Settings.Maps or Settings.Confirm names it", ErrInput, m.Material)
		}
		if err := m.check(g); err != nil {
			return nil, nil, err
		}
	}
	find := func(field, material string) (Map, error) {
		j := slices.IndexFunc(maps, func(m Map) bool { return m.Material == material })
		if j < 0 {
			return Map{}, fmt.Errorf("%w: settings: %s: no %s map given", ErrInput, field, material)
		}
		return maps[j], nil
	}
	rules, confirms = make([]Map, len(s.Maps)), make([]Map, len(s.Confirm))
	for i, r := range s.Maps {
		if rules[i], err = find("Maps", r.Material); err != nil {
			return nil, nil, err
		}
	}
	for i, r := range s.Confirm {
		if confirms[i], err = find("Confirm", r.Material); err != nil {
			return nil, nil, err
		}
	}
	return rules, confirms, nil
}

// check reports a map not on grid g, of a negative or infinite noise, or
// with a NaN voxel, naming the first.
func (m Map) check(g fdk.Grid) error {
	if m.Volume == nil || m.Volume.Grid != g || len(m.Volume.Data) != g.Voxels() {
		return fmt.Errorf("%w: the %s map is not on the bins' grid %v", ErrInput, m.Material, g.Dim)
	}
	if !(m.NoiseSD >= 0) || math.IsInf(m.NoiseSD, 1) {
		return fmt.Errorf("%w: the %s map's noise %g, want zero or positive", ErrInput, m.Material, m.NoiseSD)
	}
	if i := slices.IndexFunc(m.Volume.Data, func(x float32) bool { return x != x }); i >= 0 {
		return fmt.Errorf("%w: the %s map's voxel (%d, %d, %d) is NaN", ErrInput, m.Material, i%g.Dim[0], i/g.Dim[0]%g.Dim[1], i/(g.Dim[0]*g.Dim[1]))
	}
	return nil
}

// carve gives the voxels of class (of s.MapClasses; classify left those
// outside the field of view, 0 in some bin, in no class) that show a material of s.Maps (MapRule) the
// class code len(s.Classes)+1+j of map j, where the map whose value
// stands highest above its threshold wins.
func carve(class []uint8, g fdk.Grid, s Settings, maps []Map) {
	thr := make([]float64, len(maps))
	for j, m := range maps {
		thr[j] = s.Maps[j].Threshold(m.NoiseSD)
	}
	takes := make([]bool, len(s.Classes)+1) // by class code
	for i, c := range s.Classes {
		takes[i+1] = c != None && slices.Contains(s.MapClasses, c)
	}
	shows := make([]uint8, len(class))
	for i := range shows {
		if !takes[class[i]] {
			continue
		}
		best := 1.0
		for j, m := range maps {
			if r := float64(m.Volume.Data[i]) / thr[j]; r > best {
				best, shows[i] = r, uint8(j+1)
			}
		}
	}
	comp, mapOf := components(shows, g.Dim, s.Connectivity)
	cut := edgeCuts(comp, mapOf, maps, thr, s.EdgeFraction)
	for i, c := range comp {
		if c != 0 && float64(maps[mapOf[c-1]-1].Volume.Data[i]) >= cut[c-1] {
			class[i] = uint8(len(s.Classes)) + mapOf[c-1]
		}
	}
}

// edgeCuts returns, per component of comp (its map mapOf, from 1), the
// value its voxels keep at: the larger of the map's threshold and edge
// times the component's level (LevelQuantile of its values).
func edgeCuts(comp []int32, mapOf []uint8, maps []Map, thr []float64, edge float64) []float64 {
	values := make([][]float32, len(mapOf))
	for i, c := range comp {
		if c != 0 {
			values[c-1] = append(values[c-1], maps[mapOf[c-1]-1].Volume.Data[i])
		}
	}
	cut := make([]float64, len(mapOf))
	for c, v := range values {
		cut[c] = max(thr[mapOf[c]-1], edge*level(v))
	}
	return cut
}

// level returns the LevelQuantile of a component's values v (not empty),
// which it sorts.
func level(v []float32) float64 {
	slices.Sort(v)
	return float64(v[int(LevelQuantile*float64(len(v)-1))])
}

// class returns the class of code (1 + an index in s.Classes, then 1 +
// len(s.Classes) + an index in s.Maps).
func (s Settings) class(code uint8) Class {
	if n := len(s.Classes); int(code) > n {
		return Class(s.Maps[int(code)-n-1].Material)
	}
	return s.Classes[code-1]
}

// code returns the class code of c, one of s.Classes: 1 + its index.
func (s Settings) code(c Class) uint8 {
	return uint8(slices.Index(s.Classes, c) + 1)
}
