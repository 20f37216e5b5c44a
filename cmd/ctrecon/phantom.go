package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// scanFlags are the acquisition flags shared by phantom and demo.
type scanFlags struct {
	phantom             string
	scale, mu           float64
	views               int
	arc, sid, sdd       float64
	det                 string
	pitch, offU, offV   float64
	cor, tiltDeg, noise float64
	seed                uint64
}

func (s *scanFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.phantom, "phantom", "shepp-logan", fmt.Sprintf("phantom: %v", phantom.Names()))
	fs.Float64Var(&s.scale, "scale", 100, "phantom size: the unit table's ±1 in mm")
	fs.Float64Var(&s.mu, "mu", 1, "attenuation in 1/mm of a unit density in the phantom's table")
	fs.IntVar(&s.views, "views", 360, "number of projections")
	fs.Float64Var(&s.arc, "arc", 360, "angular range in degrees (less than 360 for a short scan)")
	fs.Float64Var(&s.sid, "sid", 600, "source to isocentre distance, mm")
	fs.Float64Var(&s.sdd, "sdd", 1200, "source to detector distance, mm")
	fs.StringVar(&s.det, "det", "256x256", "detector size COLSxROWS")
	fs.Float64Var(&s.pitch, "pitch", 2, "detector pixel pitch, mm")
	fs.Float64Var(&s.offU, "offset-u", 0, "detector offset along the columns, mm (half-fan: about half its width)")
	fs.Float64Var(&s.offV, "offset-v", 0, "detector offset along the rows, mm")
	fs.Float64Var(&s.cor, "cor", 0, "centre-of-rotation offset, mm")
	fs.Float64Var(&s.tiltDeg, "tilt", 0, "in-plane detector tilt, degrees")
	fs.Float64Var(&s.noise, "noise", 0, "open-beam photon counts per pixel for Poisson noise (0: exact projections); with --spectral over the whole spectrum, default "+strconv.FormatFloat(scansim.DefaultSpec().OpenCounts, 'f', -1, 64)+", stored as uint32 where uint16 would saturate")
	fs.Uint64Var(&s.seed, "seed", 1, "noise random seed")
}

func (s *scanFlags) geometry() (*fdk.Geometry, error) {
	cols, rows, err := detSize(s.det)
	if err != nil {
		return nil, fmt.Errorf("--det: %w", err)
	}
	if s.views < 1 {
		return nil, fmt.Errorf("--views: %d, need at least 1", s.views)
	}
	g := &fdk.Geometry{SID: s.sid, SDD: s.sdd, OffsetU: s.offU, OffsetV: s.offV, COROffset: s.cor,
		Tilt: s.tiltDeg * math.Pi / 180, Detector: fdk.Detector{Cols: cols, Rows: rows, PitchU: s.pitch, PitchV: s.pitch}}
	for i := range s.views {
		g.Angles = append(g.Angles, float64(i)*s.arc/float64(s.views)*math.Pi/180)
	}
	return g, g.Validate()
}

func (s *scanFlags) object() (phantom.Phantom, error) {
	ph, err := phantom.ByName(s.phantom, s.scale)
	if err != nil {
		return nil, err
	}
	for i := range ph {
		ph[i].Density *= s.mu
	}
	return ph, nil
}

// simulate returns the geometry, the phantom and its projections.
func (s *scanFlags) simulate() (*fdk.Geometry, phantom.Phantom, [][]float32, error) {
	g, err := s.geometry()
	if err != nil {
		return nil, nil, nil, err
	}
	ph, err := s.object()
	if err != nil {
		return nil, nil, nil, err
	}
	projs, err := ph.ProjectGeometry(g, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	if s.noise < 0 {
		return nil, nil, nil, fmt.Errorf("--noise: open-beam counts %g must be positive (0: no noise)", s.noise)
	}
	if s.noise > 0 {
		rng := rand.New(rand.NewPCG(s.seed, 0x5eed))
		for _, p := range projs {
			if err := scansim.AddPoissonNoise(p, s.noise, rng); err != nil {
				return nil, nil, nil, fmt.Errorf("--noise: %w", err)
			}
		}
	}
	return g, ph, projs, nil
}

func runPhantom(args []string) error {
	fs := flag.NewFlagSet("phantom", flag.ContinueOnError)
	out := fs.String("o", "", "output projection folder (plastimatch layout: <prefix>NNNN.pfm + .txt; with --spectral the native layout)")
	prefix := fs.String("prefix", "img", "file name prefix")
	spectral := fs.Bool("spectral", false, "simulate a MARS spectral scan of a material phantom (water, lipid, hydroxyapatite, iodine, gadolinium) in the native format; uses --views, --arc, --sid, --sdd, --noise, --seed, --kvp, --thresholds")
	kvp := fs.Float64("kvp", 120, "--spectral: tube voltage, kV")
	thresholds := fs.String("thresholds", "15,25,33.5,50.5,70", "--spectral: energy thresholds in keV, one bin from each to the next (the last to the kVp)")
	vials := fs.String("vials", "", "--spectral: a phantom of vials whose contents scan.json lists: 'calibration' (for 'ctrecon calibrate') or 'test[:SEED]' (other contents and places, drawn from SEED, default 1)")
	var s scanFlags
	s.register(fs)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("-o DIR is required")
	}
	if err := refuseUnused(fs, *spectral); err != nil {
		return err
	}
	if err := refuseNonEmpty(*out); err != nil {
		return err
	}
	if *spectral {
		return simulateSpectral(*out, &s, fs, *kvp, *thresholds, *vials)
	}
	g, _, projs, err := s.simulate()
	if err != nil {
		return err
	}
	if err := sinogram.WritePlastimatch(*out, *prefix, &sinogram.Set{Geometry: *g, Projections: projs}); err != nil {
		return err
	}
	fmt.Printf("wrote %d projections of %dx%d to %s\n", len(projs), g.Cols, g.Rows, *out)
	return nil
}

// refuseNonEmpty fails, naming -o, unless dir does not exist or is an
// empty folder: a scan written over another leaves the other's extra views
// beside its own (a mix that reconstructs as neither), and a folder that
// holds the user's files is never written into.
func refuseNonEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("-o %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("-o %s: the folder exists and is not empty (%d entries, such as %s): phantom writes only into a new or empty folder; give another -o, or remove this one if nothing in it is needed",
			dir, len(entries), entries[0].Name())
	}
	return nil
}

// refuseUnused refuses the flags of the other kind of phantom: a spectral
// scan is the MARS phantom on the simulator's detector, without the
// analytic phantoms' shape and detector flags; those have no energy bins.
func refuseUnused(fs *flag.FlagSet, spectral bool) error {
	if spectral {
		return refuseGiven(fs, "not used by --spectral, which simulates the MARS phantom on its own detector",
			"phantom", "scale", "mu", "det", "pitch", "offset-u", "offset-v", "cor", "tilt", "prefix")
	}
	return refuseGiven(fs, "only with --spectral", "kvp", "thresholds", "vials")
}

// vialPhantomDiameter is the diameter of --vials' phantoms, mm: the
// default spectral phantom's, which fills the simulated detector.
const vialPhantomDiameter = 30

// vialPhantom sets spec's phantom to the vials that --vials names
// (scansim.CalibrationVials, or scansim.TestVials drawn from a seed) and
// lists them in its scan.json, under a scan ID that says which
// (SIM-CALIBRATION, SIM-TEST-SEED: a calibration names its scan); ""
// keeps the default spectral phantom.
func vialPhantom(spec *scansim.Spec, vials string) error {
	kind, seedText, hasSeed := strings.Cut(vials, ":")
	switch {
	case vials == "":
		return nil
	case kind == "calibration" && !hasSeed:
		spec.ScanID, spec.Vials = "SIM-CALIBRATION", scansim.CalibrationVials(vialPhantomDiameter)
	case kind == "test":
		seed := uint64(1)
		if hasSeed {
			var err error
			if seed, err = strconv.ParseUint(seedText, 10, 64); err != nil {
				return fmt.Errorf("--vials %s: the seed %q is not a whole number", vials, seedText)
			}
		}
		spec.ScanID, spec.Vials = fmt.Sprintf("SIM-TEST-%d", seed), scansim.TestVials(vialPhantomDiameter, seed)
	default:
		return fmt.Errorf("--vials %s: want calibration or test[:SEED]", vials)
	}
	var err error
	spec.Phantom, err = scansim.VialPhantom(vialPhantomDiameter, spec.Vials)
	return err
}

// spectralDose sets spec's open-beam counts from --noise: photons per
// pixel and frame over the whole spectrum, as for the analytic phantoms;
// 0 leaves out the counting noise (scansim.Spec.Noiseless) at the
// default counts.
func spectralDose(spec *scansim.Spec, counts float64) error {
	switch {
	case !(counts >= 0) || math.IsInf(counts, 0):
		return fmt.Errorf("--noise: %g: want the open-beam photon counts per pixel over the spectrum, a positive number (0: no counting noise)", counts)
	case counts == 0:
		spec.Noiseless = true
	default:
		spec.OpenCounts = counts
	}
	return nil
}

// doseText says what spec's open beam counts, for phantom's summary.
func doseText(spec scansim.Spec) string {
	if spec.Noiseless {
		return fmt.Sprintf("%.0f photons without counting noise", spec.OpenCounts)
	}
	return fmt.Sprintf("%.0f photons", spec.OpenCounts)
}

// simulateSpectral writes a simulated spectral scan: the simulator's
// defaults, with the acquisition flags the user set.
func simulateSpectral(out string, s *scanFlags, fs *flag.FlagSet, kvp float64, thresholds, vials string) error {
	spec := scansim.DefaultSpec()
	if err := vialPhantom(&spec, vials); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["views"] {
		spec.Views = s.views
	}
	if set["arc"] {
		spec.ArcDegrees = s.arc
	}
	if set["sid"] {
		spec.SID = s.sid
	}
	if set["sdd"] {
		spec.SDD = s.sdd
	}
	if set["noise"] {
		if err := spectralDose(&spec, s.noise); err != nil {
			return err
		}
	}
	spec.Seed, spec.KVp, spec.Dtype = s.seed, kvp, "" // the counters that hold the dose
	var err error
	if spec.Thresholds, err = floatList(thresholds, len(strings.Split(thresholds, ","))); err != nil {
		return fmt.Errorf("--thresholds: %w", err)
	}
	bar := console.New("simulate", "views", spec.Views)
	spec.Progress = func(done, _ int) { bar.Set(done) }
	sim, err := scansim.New(spec)
	if errors.Is(err, scansim.ErrSaturates) {
		return fmt.Errorf("--noise %g: %w", spec.OpenCounts, err)
	}
	if err != nil {
		return err
	}
	if err := sim.Write(out); err != nil {
		return err
	}
	fmt.Printf("wrote a simulated %d-bin spectral scan of %d views, %s per pixel in the open beam (%s counts), to %s\n",
		len(spec.Thresholds), spec.Views, doseText(spec), sim.Scan().Counts.Dtype, out)
	if len(spec.Vials) > 0 {
		fmt.Printf("  %d vials, listed in its scan.json\n", len(spec.Vials))
	}
	return nil
}
