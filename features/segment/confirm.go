package segment

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/separable"
)

// ConfirmRule draws one HU class, Class, on a material's map instead of
// the voxels' HU (Settings.Confirm), where Auto is given the map of
// Material: every voxel of Class takes Else, and Class is drawn anew on
// the map's mean over each voxel's 3×3×3 neighbourhood, over the voxels
// of either class, as a hysteresis threshold:
//   - a voxel shows the material where that mean reads the rule's
//     threshold (MapRule.Threshold: max(Floor, NoiseSDs × the map's
//     noise per voxel));
//   - the voxels reading Floor or more form connected components; each
//     whose voxels that show the material survive the opening somewhere
//     (Settings.OpeningVoxels erosions) has a level, LevelQuantile of the
//     mean over those voxels, and its voxels reading max(Floor,
//     EdgeFraction × level) or more are drawn, in the parts that hold
//     such a core voxel and whose own level is partLevelFraction of the
//     component's or more;
//   - the drawn voxels, and all within rimVoxels of them, leave the
//     components, and what is left is drawn again (peel), up to maxPeels
//     times, so that an object of a lower level that noise over the
//     floor joined to one of a higher level is drawn at its own.
//
// It runs before the maps of Settings.Maps take their voxels.
//
// A voxel's HU has the noise of one voxel and does not say which
// material lowered it; a decomposition's map of a base material does.
// Water voxels whose noise puts their HU under lipid's upper bound, and
// the partial volume of air at the body's surface, read no lipid in the
// lipid map: left in the lipid class, they bridge lipid objects to the
// surface, and the water they enclose becomes an object of its own. A
// vial whose lipid puts its mean HU near that bound has its voxels on
// either side by noise: taken by HU, its object is the voxels that noise
// lowered, and reads more lipid than the vial holds. Drawn on the map's
// mean, whose noise is a fraction of a voxel's, at half its level (the
// full width at half maximum of its blurred edge), it is whole, at any
// HU. The threshold on the map's noise keeps noise from making objects
// where FDK's noise is highest, at the centre of the body.
type ConfirmRule struct {
	Class Class `json:"class"`
	// MapRule names the map and its detection threshold (MapRule.Threshold,
	// on the map's noise per voxel, Map.NoiseSD).
	MapRule
	EdgeFraction float64 `json:"edge_fraction"`
	Else         Class   `json:"else"`
}

// checkConfirm reports the first rule of s.Confirm that cannot work,
// naming it.
func (s Settings) checkConfirm() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: settings: Confirm: %s", ErrInput, fmt.Sprintf(format, args...))
	}
	for i, r := range s.Confirm {
		switch {
		case r.Class == None || !slices.Contains(s.Classes, r.Class):
			return bad("class %q is none of the classes %v", r.Class, s.Classes)
		case r.Else == r.Class || !slices.Contains(s.Classes, r.Else):
			return bad("%s: else %q, want another of the classes %v", r.Class, r.Else, s.Classes)
		case r.Material == "":
			return bad("%s: no material", r.Class)
		case slices.ContainsFunc(s.Confirm[:i], func(o ConfirmRule) bool { return o.Class == r.Class }):
			return bad("class %q twice", r.Class)
		case !(r.Floor > 0) || math.IsInf(r.Floor, 1):
			return bad("%s: floor %g %s, want positive", r.Class, r.Floor, r.Unit)
		case !(r.NoiseSDs >= 0) || math.IsInf(r.NoiseSDs, 1):
			return bad("%s: noise_sds %g, want zero or positive", r.Class, r.NoiseSDs)
		case !(r.EdgeFraction >= 0 && r.EdgeFraction < 1):
			return bad("%s: edge_fraction %g, want 0 or more and under 1", r.Class, r.EdgeFraction)
		}
	}
	return nil
}

// confirm draws the border between each rule's Class and Else on its map
// (maps, in the order of s.Confirm), as ConfirmRule says.
func confirm(class []uint8, g fdk.Grid, s Settings, maps []Map) {
	threads := runtime.GOMAXPROCS(0)
	for j, r := range s.Confirm {
		from, to := s.code(r.Class), s.code(r.Else)
		mean := separable.BoxMean(g.Dim, maps[j].Volume.Data, [3]int{1, 1, 1}, threads)
		thr := r.Threshold(maps[j].NoiseSD)
		shows, reads := make([]uint8, len(class)), make([]uint8, len(class))
		for i, c := range class {
			if c != from && c != to {
				continue
			}
			class[i] = to
			if float64(mean[i]) >= r.Floor {
				reads[i] = 1
			}
			if float64(mean[i]) >= thr {
				shows[i] = 1
			}
		}
		core := eroded(shows, g.Dim, s.OpeningVoxels)
		for range maxPeels {
			drawn := peel(reads, shows, core, mean, g, s.Connectivity, r)
			if drawn == nil {
				break
			}
			for i, d := range drawn {
				if d {
					class[i] = from
				}
			}
			// The drawn objects and their blurred rims leave what is read.
			near := separable.BoxMean(g.Dim, asFloat(drawn), [3]int{rimVoxels, rimVoxels, rimVoxels}, threads)
			for i, x := range near {
				if x > 0 {
					reads[i] = 0
				}
			}
		}
	}
}

// maxPeels bounds how many times confirm draws objects and takes them
// and their rims out of the voxels that read the material: each time
// draws those of the highest levels left, a second time those an object
// of a higher level had joined in one component (a dilute vial near a
// pure one, bridged by noise over the floor).
const maxPeels = 8

// rimVoxels is how far from a drawn object, in voxels (a cube), its
// blurred rim reaches in the map's box mean: the box's own voxel and the
// reconstruction's and local prior's blur of about one more.
const rimVoxels = 2

// peel returns the voxels of Class drawn in the components of reads (the
// voxels whose map's box mean, m, reads the floor or more): in each
// component whose voxels that show the material (shows) survive the
// opening somewhere (core), those reading at least its cut (levelCuts)
// whose connected parts hold such a core voxel. It returns nil when
// none is drawn.
func peel(reads, shows []uint8, core []bool, m []float32, g fdk.Grid, connectivity int, r ConfirmRule) []bool {
	comp, n := components(reads, g.Dim, connectivity)
	cut, levels := levelCuts(comp, len(n), shows, core, m, r)
	above := make([]uint8, len(reads))
	for i, k := range comp {
		if k != 0 && float64(m[i]) >= cut[k-1] {
			above[i] = 1
		}
	}
	// What the cut leaves of a component may fall apart. A part is drawn
	// when it holds a core voxel and its own level is at least
	// partLevelFraction of its component's: a part under that is the top
	// of another object of a lower level that noise over the floor joined
	// to this one, drawn at its own level in a later peel.
	parts, np := components(above, g.Dim, connectivity)
	partOf := make([]int32, len(np)) // part → component
	values, cored := make([][]float32, len(np)), make([]bool, len(np))
	for i, k := range parts {
		if k != 0 {
			partOf[k-1] = comp[i]
			values[k-1] = append(values[k-1], m[i])
			cored[k-1] = cored[k-1] || core[i]
		}
	}
	draw := make([]bool, len(np))
	for k, v := range values {
		draw[k] = cored[k] && level(v) >= partLevelFraction*levels[partOf[k]-1]
	}
	var drawn []bool
	for i, k := range parts {
		if k != 0 && draw[k-1] {
			if drawn == nil {
				drawn = make([]bool, len(reads))
			}
			drawn[i] = true
		}
	}
	return drawn
}

// partLevelFraction is the least level, as a fraction of its component's,
// of a part of the component that peel draws: pure lipid vials' parts,
// split by noise, read 0.9 and more of theirs; a 49 % vial's top,
// joined to a pure one's component by noise over the floor, 0.5.
const partLevelFraction = 0.75

// asFloat returns b as 1 and 0.
func asFloat(b []bool) []float32 {
	f := make([]float32, len(b))
	for i, x := range b {
		if x {
			f[i] = 1
		}
	}
	return f
}

// levelCuts returns, per component of comp (n of them), the map value
// (m) under which its voxels are not of rule r's Class: max(r.Floor,
// r.EdgeFraction × the LevelQuantile of m over its voxels that show the
// material (shows)), or +Inf for a component none of whose voxels that
// show it survives the opening (core); and that level of each.
func levelCuts(comp []int32, n int, shows []uint8, core []bool, m []float32, r ConfirmRule) (cut, levels []float64) {
	values, cored := make([][]float32, n), make([]bool, n)
	for i, k := range comp {
		if k != 0 && shows[i] != 0 {
			values[k-1] = append(values[k-1], m[i])
			cored[k-1] = cored[k-1] || core[i]
		}
	}
	cut, levels = make([]float64, n), make([]float64, n)
	for k, v := range values {
		cut[k] = math.Inf(1)
		if cored[k] {
			levels[k] = level(v)
			cut[k] = max(r.Floor, r.EdgeFraction*levels[k])
		}
	}
	return cut, levels
}
