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
//     noise per voxel)), unless it lies within SurfaceVoxels of air;
//   - the voxels reading Floor or more form connected components; each
//     whose voxels that show the material survive the opening somewhere
//     (Settings.OpeningVoxels erosions) has a level, LevelQuantile of the
//     mean over those voxels, and its voxels reading max(Floor,
//     EdgeFraction × level) or more are drawn, in the parts that hold
//     such a core voxel, whose own level is partLevelFraction of the
//     component's or more and whose mean HU is MaxHU or less;
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
	// MaxHU is the highest mean HU (over an object's voxels, of the bins'
	// mean HU) of an object of Class: a material that lowers attenuation
	// in every bin (lipid) lowers its objects' HU, while what the bins
	// cannot tell from water (water traded for lipid and mineral, the
	// decomposition's near-null direction) leaves it at water's.
	MaxHU float64 `json:"max_hu"`
	// SurfaceVoxels: voxels within this many voxels (a cube) of air (a
	// mean HU under −500, or outside the field of view) do not show the
	// material, though an object that shows it deeper in may take them:
	// at the body's surface the blurred edge and air's partial volume
	// mimic it.
	SurfaceVoxels int   `json:"surface_voxels"`
	Else          Class `json:"else"`
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
		case math.IsNaN(r.MaxHU) || math.IsInf(r.MaxHU, 0):
			return bad("%s: max_hu %g, want a finite HU", r.Class, r.MaxHU)
		case r.SurfaceVoxels < 0 || r.SurfaceVoxels > 16:
			return bad("%s: surface_voxels %d, want 0 to 16", r.Class, r.SurfaceVoxels)
		case !(r.EdgeFraction >= 0 && r.EdgeFraction < 1):
			return bad("%s: edge_fraction %g, want 0 or more and under 1", r.Class, r.EdgeFraction)
		}
	}
	return nil
}

// confirm draws each rule's Class on its map (maps, in the order of
// s.Confirm) over the voxels of its Class and Else, as ConfirmRule says;
// bins are those the voxels were classified on.
func confirm(class []uint8, g fdk.Grid, s Settings, maps []Map, bins []Bin) {
	if len(s.Confirm) == 0 {
		return
	}
	threads := runtime.GOMAXPROCS(0)
	hu := meanHU(bins)
	for j, r := range s.Confirm {
		from, to := s.code(r.Class), s.code(r.Else)
		d := drawing{g: g, connectivity: s.Connectivity, r: r, hu: hu,
			mean: separable.BoxMean(g.Dim, maps[j].Volume.Data, [3]int{1, 1, 1}, threads)}
		thr := r.Threshold(maps[j].NoiseSD)
		surface := nearAir(hu, g, r.SurfaceVoxels, threads)
		reads := make([]uint8, len(class))
		d.shows = make([]uint8, len(class))
		for i, c := range class {
			if c != from && c != to {
				continue
			}
			class[i] = to
			if float64(d.mean[i]) >= r.Floor {
				reads[i] = 1
			}
			if float64(d.mean[i]) >= thr && !surface[i] {
				d.shows[i] = 1
			}
		}
		d.core = eroded(d.shows, g.Dim, s.OpeningVoxels)
		for range maxPeels {
			drawn := d.peel(reads)
			if drawn == nil {
				break
			}
			for i, x := range drawn {
				if x {
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

// airHU is the mean HU under which a voxel is more air than tissue
// (halfway from water to air, as DefaultSettings' air class), for
// ConfirmRule.SurfaceVoxels; voxels outside the field of view (0 in the
// bins) read −1000.
const airHU = -500

// nearAir returns the voxels within n voxels (a cube) of a voxel of air
// (mean HU hu under airHU).
func nearAir(hu []float32, g fdk.Grid, n, threads int) []bool {
	air := make([]bool, len(hu))
	for i, h := range hu {
		air[i] = h < airHU
	}
	near := separable.BoxMean(g.Dim, asFloat(air), [3]int{n, n, n}, threads)
	for i, x := range near {
		air[i] = x > 0
	}
	return air
}

// drawing is one ConfirmRule's drawing of its class: the map's 3×3×3 mean
// and each voxel's mean HU over the bins, the voxels that show the
// material and those of them that survive the opening.
type drawing struct {
	g            fdk.Grid
	connectivity int
	r            ConfirmRule
	mean, hu     []float32
	shows        []uint8
	core         []bool
}

// meanHU returns each voxel's mean HU over bins.
func meanHU(bins []Bin) []float32 {
	hu := make([]float32, len(bins[0].Volume.Data))
	share := 1 / float64(len(bins))
	for _, b := range bins {
		for i, v := range b.Volume.Data {
			hu[i] += float32(b.HU(float64(v)) * share)
		}
	}
	return hu
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
// voxels whose map's mean reads the floor or more): in each component
// whose voxels that show the material survive the opening somewhere,
// those reading at least its cut (levelCuts), in the parts that hold
// such a core voxel, whose own level is at least partLevelFraction of
// the component's and whose mean HU is at most the rule's MaxHU. It
// returns nil when none is drawn.
func (d *drawing) peel(reads []uint8) []bool {
	comp, n := components(reads, d.g.Dim, d.connectivity)
	cut, levels := levelCuts(comp, len(n), d.shows, d.core, d.mean, d.r)
	above := make([]uint8, len(reads))
	for i, k := range comp {
		if k != 0 && float64(d.mean[i]) >= cut[k-1] {
			above[i] = 1
		}
	}
	// What the cut leaves of a component may fall apart. A part under
	// partLevelFraction of its component's level is the top of another
	// object of a lower level that noise over the floor joined to this
	// one, drawn at its own level in a later peel.
	parts, np := components(above, d.g.Dim, d.connectivity)
	partOf := make([]int32, len(np)) // part → component
	values, cored, hu := make([][]float32, len(np)), make([]bool, len(np)), make([]float64, len(np))
	for i, k := range parts {
		if k != 0 {
			partOf[k-1] = comp[i]
			values[k-1] = append(values[k-1], d.mean[i])
			cored[k-1] = cored[k-1] || d.core[i]
			hu[k-1] += float64(d.hu[i])
		}
	}
	draw := make([]bool, len(np))
	for k, v := range values {
		draw[k] = cored[k] && hu[k]/float64(len(v)) <= d.r.MaxHU && level(v) >= partLevelFraction*levels[partOf[k]-1]
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
