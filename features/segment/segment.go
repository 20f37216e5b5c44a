// Package segment finds the objects of a reconstructed spectral volume that
// the search half describes and compares: automatically, by Hounsfield
// ranges of material classes and 3D connected components, or from a given
// label image (a mask, .mha or NIfTI-1).
//
// Each Object has a label, a class, a voxel count, a volume in mm³, a
// bounding box and a centroid in millimetres, in the world coordinates of
// the volume's fdk.Grid (the frame of ctrecon's MetaImage volumes). A
// Segmentation also maps every voxel to its object, so that other
// extractors (features/spectral) can measure the volumes inside each.
package segment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ctrecon/ctrecon/fdk"
)

// Kind names what a Segmentation is, with its version, in feature records.
const Kind = "objects-v1"

// ErrInput is wrapped by every error about the arguments: volumes,
// settings, mask files.
var ErrInput = errors.New("cannot segment")

// Bin is one energy bin's reconstruction: attenuation in 1/mm on a grid,
// with the bin's water attenuation that converts it to Hounsfield units,
// HU = 1000 (μ − MuWater) / MuWater.
type Bin struct {
	Index   int     // the bin's number in the scan (scan.json's bins)
	LowKeV  float64 // the bin's energy range, keV
	HighKeV float64
	MuWater float64 // 1/mm
	Volume  *fdk.Volume
}

// HU converts attenuation mu (1/mm) to Hounsfield units in this bin.
func (b Bin) HU(mu float64) float64 { return 1000 * (mu - b.MuWater) / b.MuWater }

// Object is one connected object (automatic segmentation) or one label of
// a mask.
type Object struct {
	// Label is the object's value in a mask, or its number (from 1, in the
	// order of each object's first voxel, x fastest) when found by HU.
	Label int64 `json:"label"`
	// Class is the material class; empty for an object of a mask.
	Class  Class `json:"class,omitempty"`
	Voxels int   `json:"voxels"`
	// VolumeMM3 is Voxels times the volume of one voxel.
	VolumeMM3 float64 `json:"volume_mm3"`
	// MinIndex and MaxIndex bound the object's voxels (inclusive).
	MinIndex [3]int `json:"min_index"`
	MaxIndex [3]int `json:"max_index"`
	// MinMM and MaxMM are the outer faces of those voxels, world mm: the
	// smallest axis-aligned box that holds the object's voxels whole.
	MinMM fdk.Vec3 `json:"min_mm"`
	MaxMM fdk.Vec3 `json:"max_mm"`
	// CentroidMM is the mean of the object's voxel centres, world mm.
	CentroidMM fdk.Vec3 `json:"centroid_mm"`
}

// Segmentation is a set of objects on a grid.
type Segmentation struct {
	Grid     fdk.Grid
	Settings Settings
	// Source says where the objects come from: "hu" for HU classes, "hu
	// and material maps" for HU classes and maps (Settings.Maps), or the
	// mask file's path.
	Source  string
	Objects []Object
	// Map holds, per voxel (x fastest), 1 + the index in Objects of the
	// object the voxel belongs to, or 0.
	Map []int32
	// stats holds the Stats that Auto took (of each bin, to split dense
	// objects), by volume, for StatsOf.
	stats map[*fdk.Volume][]Stat
}

// Kind returns Kind.
func (s *Segmentation) Kind() string { return Kind }

// Stat is a volume's values over one object.
type Stat struct {
	N    int     // voxels counted
	Mean float64 // of the values
	SD   float64 // sample standard deviation (n − 1); 0 for fewer than 2
}

// Stats returns, per object, the mean and standard deviation of v over the
// object's voxels. Voxels of exactly 0 are left out: fdk's field-of-view
// mask makes them, and their values mean nothing (as in
// features.Histograms). A NaN voxel inside an object is an error naming
// it. v must lie on the segmentation's grid.
func (s *Segmentation) Stats(v *fdk.Volume) ([]Stat, error) {
	st, err := s.statsAll([]*fdk.Volume{v})
	if err != nil {
		return nil, err
	}
	return st[0], nil
}

// statsAll returns Stats of each of vols, reading the map once for all of
// them: each volume's sums are made voxel by voxel in the same order as
// for it alone. A NaN names the first voxel (then volume) that has one.
func (s *Segmentation) statsAll(vols []*fdk.Volume) ([][]Stat, error) {
	data := make([][]float32, len(vols))
	for b, v := range vols {
		if v == nil || v.Grid != s.Grid || len(v.Data) != len(s.Map) {
			return nil, fmt.Errorf("%w: the volume is not on the objects' grid %v", ErrInput, s.Grid.Dim)
		}
		data[b] = v.Data
	}
	sum := make([][]float64, len(vols))
	out := make([][]Stat, len(vols))
	for b := range vols {
		sum[b], out[b] = make([]float64, len(s.Objects)), make([]Stat, len(s.Objects))
	}
	for i, m := range s.Map {
		if m == 0 {
			continue
		}
		for b, d := range data {
			if d[i] == 0 {
				continue
			}
			x := float64(d[i])
			if math.IsNaN(x) {
				g := s.Grid.Dim
				return nil, fmt.Errorf("%w: voxel (%d, %d, %d) is NaN", ErrInput, i%g[0], i/g[0]%g[1], i/(g[0]*g[1]))
			}
			sum[b][m-1] += x
			out[b][m-1].N++
		}
	}
	for b := range out {
		for o := range out[b] {
			if out[b][o].N > 0 {
				out[b][o].Mean = sum[b][o] / float64(out[b][o].N)
			}
		}
	}
	// A second pass for the deviations: exact where a running sum of
	// squares would lose digits to the mean.
	for b := range sum {
		clear(sum[b])
	}
	for i, m := range s.Map {
		if m == 0 {
			continue
		}
		for b, d := range data {
			if d[i] == 0 {
				continue
			}
			dev := float64(d[i]) - out[b][m-1].Mean
			sum[b][m-1] += dev * dev
		}
	}
	for b := range out {
		for o := range out[b] {
			if out[b][o].N > 1 {
				out[b][o].SD = math.Sqrt(sum[b][o] / float64(out[b][o].N-1))
			}
		}
	}
	return out, nil
}

// StatsOf returns Stats(v), taken once per volume: when Auto took v's
// statistics (on all bins, to split the dense objects) it returns a copy
// of those, which describe v as it was then, so v must not have changed
// since. The worker's extraction asks for each bin's statistics twice
// (the dense split, the spectral signatures).
func (s *Segmentation) StatsOf(v *fdk.Volume) ([]Stat, error) {
	if st, ok := s.stats[v]; ok {
		return slices.Clone(st), nil
	}
	return s.Stats(v)
}

// Interior returns the segmentation of each object's interior: its voxels
// that survive r erosions of the object by the 6-connected cross (as the
// opening's, Settings.OpeningVoxels), clear of the partial volume its
// edge shares with its neighbours; an object with no such voxel keeps
// them all. The objects are s's, measured on s's whole map (a mean over
// the interior reads the object's content without the blur of its
// boundary, as a lab measures a vial's inner region).
func (s *Segmentation) Interior(r int) *Segmentation {
	core := eroded(s.Map, s.Grid.Dim, r)
	kept := make([]bool, len(s.Objects)+1)
	for i, m := range s.Map {
		kept[m] = kept[m] || core[i]
	}
	m := make([]int32, len(s.Map))
	for i, o := range s.Map {
		if core[i] || !kept[o] {
			m[i] = o
		}
	}
	return &Segmentation{Grid: s.Grid, Settings: s.Settings, Source: s.Source, Objects: s.Objects, Map: m}
}

// HashSettings returns a short stable hash of a feature kind and its
// settings: the first 16 hex digits of the SHA-256 of the JSON object
// {"kind": kind, "settings": settings}, which encoding/json writes in field
// order with the shortest exact numbers, so that a record carrying the
// settings' JSON can be checked anywhere. Feature records carry it, so that
// features computed with other settings are never compared as if alike.
// Settings JSON cannot hold (NaN, ±Inf: settings every extractor refuses)
// hash to "".
func HashSettings(kind string, settings any) string {
	b, err := json.Marshal(struct {
		Kind     string `json:"kind"`
		Settings any    `json:"settings"`
	}{kind, settings})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// measure builds the objects of a map whose values run from 1 to n: their
// voxel counts, volumes, bounding boxes and centroids on g.
func measure(g fdk.Grid, m []int32, n int) []Object {
	objs := make([]Object, n)
	sums := make([][3]float64, n)
	for o := range objs {
		objs[o].MinIndex = g.Dim
		objs[o].MaxIndex = [3]int{-1, -1, -1}
	}
	idx := 0
	for z := range g.Dim[2] {
		for y := range g.Dim[1] {
			for x := range g.Dim[0] {
				v := m[idx]
				idx++
				if v == 0 {
					continue
				}
				o := &objs[v-1]
				p := [3]int{x, y, z}
				o.Voxels++
				for k := range 3 {
					o.MinIndex[k] = min(o.MinIndex[k], p[k])
					o.MaxIndex[k] = max(o.MaxIndex[k], p[k])
					sums[v-1][k] += float64(p[k])
				}
			}
		}
	}
	voxel := g.Spacing[0] * g.Spacing[1] * g.Spacing[2]
	for i := range objs {
		o := &objs[i]
		o.VolumeMM3 = float64(o.Voxels) * voxel
		lo := g.Position(o.MinIndex[0], o.MinIndex[1], o.MinIndex[2])
		hi := g.Position(o.MaxIndex[0], o.MaxIndex[1], o.MaxIndex[2])
		for k := range 3 {
			o.MinMM[k] = lo[k] - g.Spacing[k]/2
			o.MaxMM[k] = hi[k] + g.Spacing[k]/2
			o.CentroidMM[k] = g.Origin[k] + sums[i][k]/float64(o.Voxels)*g.Spacing[k]
		}
	}
	return objs
}
