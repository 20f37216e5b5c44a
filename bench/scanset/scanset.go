// Package scanset makes the index benchmarks' second data set: ctrecon's
// own feature vectors of a labelled set of simulated spectral scans.
//
// Each scan is a water phantom holding a few cylindrical inserts whose
// material (iodine, gadolinium, hydroxyapatite or lipid), concentration,
// radius and position are drawn at random. The scan is simulated
// (scansim), preprocessed (sinogram) and reconstructed (fdk) in every
// energy bin, segmented (segment.Auto) and described by the worker's
// extraction (extract.Scan): per object and bin its HU histogram, metric
// histogram and radiomics, per object its spectral signature. The inserts
// the segmentation finds as objects of their own become the set's
// objects, labelled by material: what a user looking for "more iodine
// like this" searches for.
//
// Generating a set takes minutes (most of it the simulation), so Load
// keeps it in a cache file named by its Spec.
package scanset

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/extract"
	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/features/segment"
	"github.com/ctrecon/ctrecon/features/spectral"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Materials are the inserts' materials, the set's labels.
var Materials = []string{"iodine", "gadolinium", "hydroxyapatite", "lipid"}

// Spec says which scans a set holds. The same Spec makes the same set.
type Spec struct {
	Scans   int    `json:"scans"`
	Inserts int    `json:"inserts_per_scan"`
	Seed    uint64 `json:"seed"`
	// DiameterMM is the water phantom's diameter.
	DiameterMM float64 `json:"diameter_mm"`
	// RadiiMM are the inserts' radii, one drawn per insert: the size
	// classes.
	RadiiMM []float64 `json:"radii_mm"`
	// Views, Thresholds (keV) and OpenCounts are the simulated scan's
	// (scansim.Spec); the rest is scansim.DefaultSpec.
	Views      int       `json:"views"`
	Thresholds []float64 `json:"thresholds_kev"`
	OpenCounts float64   `json:"open_counts"`
	// Grid is the reconstruction grid, of VoxelMM voxels, centred.
	Grid    [3]int  `json:"grid"`
	VoxelMM float64 `json:"voxel_mm"`
}

// DefaultSpec is 24 scans of 5 inserts each in a 30 mm phantom, radius
// 1.8 or 3 mm, 90 views in four bins (thresholds 15, 33.5, 50.5 and 70
// keV: the second above iodine's K-edge, the third above gadolinium's),
// reconstructed on 64 × 64 × 8 voxels of 0.6 mm: 120 inserts, 480
// object records of each per-bin kind, in some 8 minutes of CPU time
// (20 s a scan).
func DefaultSpec() Spec {
	return Spec{Scans: 24, Inserts: 5, Seed: 1, DiameterMM: 30, RadiiMM: []float64{1.8, 3},
		Views: 90, Thresholds: []float64{15, 33.5, 50.5, 70}, OpenCounts: 20000,
		Grid: [3]int{64, 64, 8}, VoxelMM: 0.6}
}

// Insert is one insert of a scan: its material, its amount (mg/mL of
// iodine, gadolinium or hydroxyapatite in water; for lipid the volume
// fraction of lipid in water), radius and centre (mm).
type Insert struct {
	Material string     `json:"material"`
	Amount   float64    `json:"amount"`
	RadiusMM float64    `json:"radius_mm"`
	Center   [2]float64 `json:"center_mm"`
}

// Object is an insert found as an object of its own, with its features.
type Object struct {
	Scan   int    `json:"scan"`
	Insert Insert `json:"insert"`
	// HU has per bin the object's normalised HU histogram (histogram.HU's
	// 64 bins, summing to 1).
	HU [][]float32 `json:"hu"`
	// Metric has per bin the object's metric histogram.
	Metric []histogram.Metric `json:"metric"`
	// Radiomics has per bin the object's radiomics values, named by
	// Set.RadiomicsNames; nil for a bin where the object has none.
	Radiomics [][]float32 `json:"radiomics"`
	// Spectral is the object's spectral signature (one value per bin).
	Spectral []float32 `json:"spectral"`
}

// Set is a generated data set.
type Set struct {
	Spec           Spec     `json:"spec"`
	Bins           int      `json:"bins"`
	RadiomicsNames []string `json:"radiomics_names"`
	Objects        []Object `json:"objects"`
	// Missed are the inserts the segmentation did not find as objects of
	// their own.
	Missed []Insert `json:"missed"`
}

// version changes whenever Generate makes other objects from the same
// Spec; it is part of the cache file's name.
const version = 1

// CachePath returns the file Load keeps spec's set in, in dir.
func CachePath(dir string, spec Spec) string {
	js, _ := json.Marshal(spec)
	sum := sha256.Sum256(js)
	return filepath.Join(dir, fmt.Sprintf("scanset-v%d-%s.json.gz", version, hex.EncodeToString(sum[:8])))
}

// Load reads spec's set from its cache file in dir, or generates it
// (Generate, progress as there) and writes the file.
func Load(dir string, spec Spec, progress func(scan int)) (*Set, error) {
	path := CachePath(dir, spec)
	if s, err := read(path); err == nil {
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	s, err := Generate(spec, progress)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return s, write(path, s)
}

func read(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var s Set
	if err := json.NewDecoder(gz).Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// write writes s to path through a temporary file, so that an
// interrupted run leaves no half file to read.
func write(path string, s *Set) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(f)
	err = errors.Join(json.NewEncoder(gz).Encode(s), gz.Close(), f.Close())
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// Generate simulates, reconstructs and describes spec's scans, calling
// progress (when not nil) after each.
func Generate(spec Spec, progress func(scan int)) (*Set, error) {
	if spec.Scans < 1 || spec.Inserts < 1 || len(spec.RadiiMM) == 0 || len(spec.Thresholds) < 2 {
		return nil, fmt.Errorf("scanset: spec %+v: want scans, inserts, radii and at least two thresholds", spec)
	}
	s := &Set{Spec: spec, Bins: len(spec.Thresholds)}
	rng := rand.New(rand.NewPCG(spec.Seed, 0x7363616e))
	for i := range spec.Scans {
		inserts, err := drawInserts(rng, spec)
		if err != nil {
			return nil, fmt.Errorf("scan %d: %w", i, err)
		}
		if err := s.addScan(i, inserts); err != nil {
			return nil, fmt.Errorf("scan %d: %w", i, err)
		}
		if progress != nil {
			progress(i)
		}
	}
	return s, nil
}

// Amount ranges per material, drawn uniformly: contrast from 6 mg/mL
// (the segmentation's dense class starts at 150 HU averaged over the
// bins) to 15, hydroxyapatite 150 to 400 mg/mL, lipid fractions 0.7 to 1
// (below, the mixture reads as water).
var amounts = map[string][2]float64{"iodine": {6, 15}, "gadolinium": {6, 15}, "hydroxyapatite": {150, 400}, "lipid": {0.7, 1}}

// drawInserts draws spec.Inserts inserts with random materials, amounts,
// radii and places inside the phantom, 1.5 mm from its edge and from each
// other.
func drawInserts(rng *rand.Rand, spec Spec) ([]Insert, error) {
	const gapMM = 1.5
	var out []Insert
	for tries := 0; len(out) < spec.Inserts; tries++ {
		if tries > 10000 {
			return nil, fmt.Errorf("cannot place %d inserts of radii %v in a %g mm phantom", spec.Inserts, spec.RadiiMM, spec.DiameterMM)
		}
		m := Materials[rng.IntN(len(Materials))]
		r := spec.RadiiMM[rng.IntN(len(spec.RadiiMM))]
		reach := spec.DiameterMM/2 - r - gapMM
		c := [2]float64{(2*rng.Float64() - 1) * reach, (2*rng.Float64() - 1) * reach}
		if math.Hypot(c[0], c[1]) > reach || overlaps(out, c, r+gapMM) {
			continue
		}
		a := amounts[m]
		out = append(out, Insert{Material: m, Amount: a[0] + (a[1]-a[0])*rng.Float64(), RadiusMM: r, Center: c})
	}
	return out, nil
}

func overlaps(ins []Insert, c [2]float64, r float64) bool {
	for _, o := range ins {
		if math.Hypot(o.Center[0]-c[0], o.Center[1]-c[1]) < o.RadiusMM+r {
			return true
		}
	}
	return false
}

// vial returns insert's vial for scansim.VialPhantom.
func (in Insert) vial(i int) sinogram.Vial {
	name := fmt.Sprintf("%d %s", i, in.Material)
	x, y, r := in.Center[0], in.Center[1], in.RadiusMM
	switch in.Material {
	case "lipid":
		return scansim.NewVial(name, x, y, r, in.Amount, nil)
	case "hydroxyapatite":
		return scansim.NewVial(name, x, y, r, 0, map[string]float64{"ha": in.Amount})
	}
	return scansim.NewVial(name, x, y, r, 0, map[string]float64{in.Material: in.Amount})
}

// addScan simulates and describes scan i with inserts and adds the
// inserts found to s.
func (s *Set) addScan(i int, inserts []Insert) error {
	bins, err := s.reconstruct(i, inserts)
	if err != nil {
		return err
	}
	series := make([]string, len(bins))
	for b := range series {
		series[b] = fmt.Sprintf("1.2.826.0.1.3680043.10.1.%d.%d", i+1, b+1)
	}
	res, err := extract.Scan(bins, series, extract.IDs{ScanID: fmt.Sprintf("SET-%04d", i), StudyUID: "1.2.826.0.1.3680043.10.1"},
		extract.DefaultScanSettings())
	if err != nil {
		return err
	}
	s.RadiomicsNames = res.Names[extract.KindRadiomics]
	found, err := describe(res, bins)
	if err != nil {
		return err
	}
	for _, in := range inserts {
		label := objectAt(res.Segmentation, in.Center)
		o := found[label]
		if o == nil { // no object, or one another insert took

			s.Missed = append(s.Missed, in)
			continue
		}
		o.Scan, o.Insert = i, in
		s.Objects = append(s.Objects, *o)
		found[label] = nil // an object is one insert's only
	}
	return nil
}

// reconstruct simulates scan i with inserts and reconstructs every bin as
// the worker does, with a Hann window cut at a quarter of Nyquist (at 90
// views a bin's noise is then some 40 HU per voxel).
func (s *Set) reconstruct(i int, inserts []Insert) ([]segment.Bin, error) {
	spec := s.Spec
	sim := scansim.DefaultSpec()
	sim.ScanID, sim.Seed = fmt.Sprintf("SET-%04d", i), spec.Seed*1000+uint64(i)
	sim.Views, sim.Thresholds, sim.OpenCounts = spec.Views, spec.Thresholds, spec.OpenCounts
	for k, in := range inserts {
		sim.Vials = append(sim.Vials, in.vial(k))
	}
	var err error
	if sim.Phantom, err = scansim.VialPhantom(spec.DiameterMM, sim.Vials); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ctrecon-scanset-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := scansim.Simulate(dir, sim); err != nil {
		return nil, err
	}
	m, err := sinogram.ReadScan(dir)
	if err != nil {
		return nil, err
	}
	pp, err := sinogram.NewPreprocessor(m, sinogram.PreprocessOptions{})
	if err != nil {
		return nil, err
	}
	v := spec.VoxelMM
	grid := fdk.CenteredGrid(spec.Grid, [3]float64{v, v, v}, fdk.Vec3{})
	rec, err := fdk.New(&m.Geometry, grid, len(m.Bins), fdk.Options{Window: fdk.Hann, Cutoff: 0.25})
	if err != nil {
		return nil, err
	}
	for view := range m.Views {
		imgs, _, err := pp.View(view)
		if err != nil {
			return nil, err
		}
		if err := rec.Add(view, imgs); err != nil {
			return nil, err
		}
	}
	vols, err := rec.Finish()
	if err != nil {
		return nil, err
	}
	bins := make([]segment.Bin, len(m.Bins))
	for b, bin := range m.Bins {
		bins[b] = segment.Bin{Index: b, LowKeV: bin.LowKeV, HighKeV: bin.HighKeV, MuWater: bin.MuWater, Volume: vols[b]}
	}
	return bins, nil
}

// objectAt returns the label (1 + index in seg.Objects) of the voxel
// nearest (x, y) on the middle slice, 0 for none.
func objectAt(seg *segment.Segmentation, c [2]float64) int64 {
	g := seg.Grid
	var idx [3]int
	for k := range 2 {
		idx[k] = int(math.Round((c[k] - g.Origin[k]) / g.Spacing[k]))
		if idx[k] < 0 || idx[k] >= g.Dim[k] {
			return 0
		}
	}
	idx[2] = g.Dim[2] / 2
	return int64(seg.Map[idx[0]+g.Dim[0]*(idx[1]+g.Dim[1]*idx[2])])
}

// describe gathers each object's features from res's records and counts
// its HU histogram in each bin; the map's keys are object labels.
func describe(res *extract.Result, bins []segment.Bin) (map[int64]*Object, error) {
	seg := res.Segmentation
	out := map[int64]*Object{}
	for k := range seg.Objects {
		out[int64(k+1)] = &Object{HU: make([][]float32, len(bins)), Metric: make([]histogram.Metric, len(bins)),
			Radiomics: make([][]float32, len(bins))}
	}
	for _, r := range res.Records {
		o := out[r.Object]
		if r.Object == 0 || o == nil {
			continue
		}
		switch r.KindVersion() {
		case histogram.KindMetric:
			if err := json.Unmarshal(r.Data, &o.Metric[r.Bin]); err != nil {
				return nil, fmt.Errorf("object %d, bin %d: metric histogram: %w", r.Object, r.Bin, err)
			}
		case extract.KindRadiomics:
			o.Radiomics[r.Bin] = r.Values
		case spectral.Kind:
			o.Spectral = r.Values
		}
	}
	for b, bin := range bins {
		c, err := histogram.Count(bin.Volume, bin.MuWater, histogram.HU, histogram.Selection{Labels: seg.Map})
		if err != nil {
			return nil, fmt.Errorf("bin %d: %w", b, err)
		}
		for _, h := range c.Objects {
			v := make([]float32, len(h.Counts))
			for i, n := range h.Counts {
				v[i] = float32(float64(n) / float64(h.N))
			}
			out[int64(h.Label)].HU[b] = v
		}
	}
	return out, nil
}
