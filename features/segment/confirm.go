package segment

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/separable"
)

// ConfirmRule keeps the voxels of an HU class in it only where a
// material's map confirms them (Settings.Confirm): a voxel of Class whose
// map of Material (given to Auto as a Map), averaged over the voxel's
// 3×3×3 neighbourhood, reads under Min takes class Else instead. It runs
// before the maps of Settings.Maps take their voxels.
//
// A voxel's HU has the noise of one voxel; a decomposition's map of a
// base material has far less where the decomposition takes it from a
// local prior, and says which material lowered the HU. Water voxels whose
// noise puts their HU under lipid's upper bound read no lipid in the lipid
// map, and neither does the partial volume of air at the body's surface.
// Left in the lipid class, those voxels bridge a lipid object to the
// surface, and the water they enclose becomes an object of its own.
// The neighbourhood's mean keeps the map's own noise per voxel from
// confirming single voxels.
type ConfirmRule struct {
	Class    Class  `json:"class"`
	Material string `json:"material"`
	// Unit is the map's unit, which Min is in.
	Unit string  `json:"unit"`
	Min  float64 `json:"min"`
	Else Class   `json:"else"`
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
		}
	}
	return nil
}

// confirm moves the voxels of each rule's class whose map (maps, in the
// order of s.Confirm) reads under the rule's Min in its 3×3×3 mean to the
// rule's Else class (ConfirmRule).
func confirm(class []uint8, g fdk.Grid, s Settings, maps []Map) {
	for j, r := range s.Confirm {
		from, to := s.code(r.Class), s.code(r.Else)
		mean := separable.BoxMean(g.Dim, maps[j].Volume.Data, [3]int{1, 1, 1}, runtime.GOMAXPROCS(0))
		for i, c := range class {
			if c == from && float64(mean[i]) < r.Min {
				class[i] = to
			}
		}
	}
}
