package segment

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/separable"
)

// ConfirmRule draws the border between two HU classes, Class and Else,
// on a material's map instead of the voxels' HU (Settings.Confirm), where
// Auto is given the map of Material. On the map's mean over each voxel's
// 3×3×3 neighbourhood:
//   - a voxel of Class reading under Min takes Else;
//   - the voxels of either class reading Min or more form connected
//     components; a component that holds a voxel of Class which survives
//     the opening (Settings.OpeningVoxels erosions of Class) has a level,
//     LevelQuantile of the map over its voxels of Class: its voxels whose
//     map reads at least max(Min, EdgeFraction × level) are of Class, the
//     rest Else; the voxels of Class in other components are Else.
//
// It runs before the maps of Settings.Maps take their voxels.
//
// A voxel's HU has the noise of one voxel; a decomposition's map of a
// base material has far less where the decomposition takes it from a
// local prior, and says which material lowered the HU. Water voxels whose
// noise puts their HU under lipid's upper bound read no lipid in the lipid
// map, and neither does the partial volume of air at the body's surface:
// left in the lipid class, they bridge a lipid object to the surface, and
// the water they enclose becomes an object of its own. A vial whose lipid
// puts its mean HU near that bound has its voxels on either side by noise:
// taken by HU, its object is the voxels that noise lowered, and reads
// more lipid than the vial holds; drawn on the map, it is whole. The
// level's edge cut keeps a pure lipid vial's blurred rim out, as
// MapRule's does. The neighbourhood's mean keeps the map's own noise per
// voxel from deciding which voxels may belong to Class; growing only from
// what the HU classes and the opening would keep keeps noise in the map
// from making objects.
type ConfirmRule struct {
	Class    Class  `json:"class"`
	Material string `json:"material"`
	// Unit is the map's unit, which Min is in.
	Unit         string  `json:"unit"`
	Min          float64 `json:"min"`
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
		case !(r.Min > 0) || math.IsInf(r.Min, 1):
			return bad("%s: min %g %s, want positive", r.Class, r.Min, r.Unit)
		case !(r.EdgeFraction >= 0 && r.EdgeFraction < 1):
			return bad("%s: edge_fraction %g, want 0 or more and under 1", r.Class, r.EdgeFraction)
		}
	}
	return nil
}

// confirm draws the border between each rule's Class and Else on its map
// (maps, in the order of s.Confirm), as ConfirmRule says.
func confirm(class []uint8, g fdk.Grid, s Settings, maps []Map) {
	for j, r := range s.Confirm {
		from, to := s.code(r.Class), s.code(r.Else)
		m := maps[j].Volume.Data
		mean := separable.BoxMean(g.Dim, m, [3]int{1, 1, 1}, runtime.GOMAXPROCS(0))
		reads := make([]uint8, len(class))
		for i, c := range class {
			if c == from && float64(mean[i]) < r.Min {
				class[i] = to
			}
			if (c == from || c == to) && float64(mean[i]) >= r.Min {
				reads[i] = 1
			}
		}
		comp, n := components(reads, g.Dim, s.Connectivity)
		cut := levelCuts(comp, len(n), class, from, eroded(class, g.Dim, s.OpeningVoxels), m, r)
		for i, k := range comp {
			switch {
			case k != 0 && float64(m[i]) >= cut[k-1]:
				class[i] = from
			case class[i] == from:
				class[i] = to
			}
		}
	}
}

// levelCuts returns, per component of comp (n of them), the map value
// (m) under which its voxels take rule r's Else class: max(r.Min,
// r.EdgeFraction × the LevelQuantile of m over its voxels of class from),
// or +Inf for a component without a voxel of class from in core.
func levelCuts(comp []int32, n int, class []uint8, from uint8, core []bool, m []float32, r ConfirmRule) []float64 {
	values, cored := make([][]float32, n), make([]bool, n)
	for i, k := range comp {
		if k != 0 && class[i] == from {
			values[k-1] = append(values[k-1], m[i])
			cored[k-1] = cored[k-1] || core[i]
		}
	}
	cut := make([]float64, n)
	for k, v := range values {
		cut[k] = math.Inf(1)
		if cored[k] {
			cut[k] = max(r.Min, r.EdgeFraction*level(v))
		}
	}
	return cut
}
