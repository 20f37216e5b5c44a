package scansim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/internal/parallel"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Component is one material of a phantom Region at a partial density.
type Component struct {
	Material string  // one of MaterialNames
	Density  float64 // g/cm³ added to what lies beneath; negative removes
}

// Region is a shape of the spectral phantom. As in package phantom,
// densities add where regions overlap: an insert replaces the water it sits
// in by listing water with a negative density.
type Region struct {
	Name       string
	Shape      phantom.Object // its Density is ignored
	Components []Component
}

// Concentrations of the inserts of SpectralPhantom, g/cm³ (= g/ml).
const (
	IodineConcentration         = 0.010 // 10 mg/ml
	GadoliniumConcentration     = 0.010 // 10 mg/ml
	HydroxyapatiteConcentration = 0.400 // 400 mg/ml, a bone calibration rod
)

// SpectralPhantom is a MARS-style calibration phantom of the given diameter
// (mm): a water cylinder with four cylindrical inserts of radius
// diameter/10 centred 0.3·diameter from the axis, at 0°, 90°, 180° and 270°
// (from +x towards +y): iodine (10 mg/ml in water), gadolinium (10 mg/ml in
// water), hydroxyapatite (400 mg/ml in water) and lipid. Every shape is
// twice as tall as the phantom is wide, so that a small-bore cone beam sees
// no end.
func SpectralPhantom(diameter float64) []Region {
	r := diameter / 2
	h := diameter
	insert := func(name string, deg float64, comps ...Component) Region {
		s, c := math.Sincos(deg * math.Pi / 180)
		return Region{Name: name, Components: comps, Shape: phantom.Object{Kind: phantom.Cylinder,
			Center: fdk.Vec3{0.6 * r * c, 0.6 * r * s, 0}, Axes: fdk.Vec3{0.2 * r, 0.2 * r, h}}}
	}
	haVolume := HydroxyapatiteConcentration / materialDensity[Hydroxyapatite]
	return []Region{
		{Name: "water", Components: []Component{{Water, 1}},
			Shape: phantom.Object{Kind: phantom.Cylinder, Axes: fdk.Vec3{r, r, h}}},
		insert("iodine 10 mg/ml", 0, Component{Iodine, IodineConcentration}),
		insert("gadolinium 10 mg/ml", 90, Component{Gadolinium, GadoliniumConcentration}),
		insert("hydroxyapatite 400 mg/ml", 180, Component{Water, -haVolume}, Component{Hydroxyapatite, HydroxyapatiteConcentration}),
		insert("lipid", 270, Component{Water, -1}, Component{Lipid, materialDensity[Lipid]}),
	}
}

// Spec describes a simulated MARS-like spectral scan. DefaultSpec
// gives a complete one; Simulate uses the fields as given.
type Spec struct {
	ScanID  string
	Patient sinogram.Patient
	Study   sinogram.Study
	// Acquired is when the simulated scan started, written to scan.json's
	// acquired; zero means when the Simulator is made.
	Acquired time.Time

	KVp            float64 // tube voltage, kV
	FiltrationMMAl float64 // aluminium filtration, mm
	// Thresholds are the energy thresholds in keV, increasing: bin i counts
	// photons from Thresholds[i] up to Thresholds[i+1], the last up to KVp.
	Thresholds []float64
	Mode       string // counting mode written for every bin

	Views      int     // projections over ArcDegrees
	ArcDegrees float64 // 360 for a full scan
	SID, SDD   float64 // mm

	Layout       sinogram.Layout // the camera's chips
	CameraShifts []int           // the camera's positions; nil means one, unshifted

	// OpenCounts is the mean number of photons a pixel at the detector's
	// centre counts in one frame, all bins together.
	OpenCounts float64
	Flats      int
	Darks      int
	DarkCounts float64 // mean counts of a good pixel in a frame without beam
	// GainSpread is the relative spread of pixel gains (threshold
	// dispersion), drawn per pixel and bin; chips differ by half as much.
	GainSpread float64
	// Dead, Hot and Noisy are how many defective pixels to inject: dead ones
	// count nothing, hot ones add thousands of counts that vary from frame
	// to frame (even without beam), noisy ones vary their gain from frame to
	// frame. Masked of the dead pixels are listed in the bad-pixel mask.
	Dead, Hot, Noisy, Masked int
	// Dtype is the frames' sample type (sinogram.Uint16, Uint32 or
	// Float32); empty picks uint16 where the open beam's counts fit it
	// with room for their noise, else uint32 (New says which).
	Dtype string
	// Noiseless leaves out counting noise (counts are the expected values,
	// rounded for integer dtypes); defects and gains stay.
	Noiseless bool

	Phantom []Region
	// Vials, when the phantom is a VialPhantom, state its vials' contents
	// in scan.json.
	Vials []sinogram.Vial
	// CalibrationWaterMM is the water path that sets each bin's water
	// calibration: the attenuation of water averaged over the bin's
	// spectrum after that much water (see Simulator.WaterCalibration).
	CalibrationWaterMM float64
	// EnergyStep is the width of the spectrum's energy intervals, keV.
	EnergyStep float64

	Seed     uint64
	Threads  int                   // goroutines (0: all cores)
	Progress func(done, total int) // if set, called after each projection view, never concurrently
}

// DefaultSpec is a small MARS-like scan: a 30 mm spectral phantom at
// SID 160 mm and SDD 240 mm on one camera of 4x1 Medipix3RX chips at 110 µm
// with 2-pixel gaps, 120 kVp through 1.8 mm Al, five charge-summing bins with
// thresholds at 15, 25, 33.5 (above iodine's K-edge), 50.5 (above
// gadolinium's) and 70 keV, 180 views, 20 000 open-beam counts per pixel, 4
// flats and 2 darks, uint16 frames, a few dead, hot and noisy pixels.
func DefaultSpec() Spec {
	return Spec{
		ScanID:  "SIM-0001",
		Patient: sinogram.Patient{ID: "PHANTOM", Name: "Phantom^Spectral"},
		Study:   sinogram.Study{ID: "SIM", Description: "simulated spectral phantom"},
		KVp:     120, FiltrationMMAl: 1.8,
		Thresholds: []float64{15, 25, 33.5, 50.5, 70},
		Mode:       sinogram.ChargeSumming,
		Views:      180, ArcDegrees: 360,
		SID: 160, SDD: 240,
		Layout:     sinogram.Layout{Chip: sinogram.Medipix3RX, ChipPixels: 128, Pitch: 0.110, ChipsX: 4, ChipsY: 1, GapX: 2, GapY: 2},
		OpenCounts: 20000, Flats: 4, Darks: 2, DarkCounts: 0.05, GainSpread: 0.03,
		Dead: 12, Hot: 6, Noisy: 6, Masked: 4,
		Dtype:   sinogram.Uint16,
		Phantom: SpectralPhantom(30),
		// Half the diameter: the water a ray crosses to reach the axis.
		CalibrationWaterMM: 15,
		EnergyStep:         1,
		Seed:               1,
	}
}

// Simulator produces the frames of a simulated scan and, for tests, the
// exact noiseless line integrals the preprocessing should recover.
//
// The forward model, per detector pixel and energy bin b, is polychromatic:
//
//	N_b = N_open·f·g_b · Σ_k w_bk · exp(-Σ_m μ_m(E_k)·L_m)
//
// where w_bk is the tube spectrum's share of bin b's counts in energy
// interval k (Kramers plus aluminium, see TubeSpectrum), L_m is the exact
// line integral of material m's partial density through the phantom (from
// package phantom's chord lengths), μ_m its mass attenuation (see
// MassAttenuation), f the beam's fall-off (cos³ of the ray's angle to the
// detector normal) and g_b the pixel's gain. The exact line integral of bin
// b is -ln(Σ_k w_bk·exp(-Σ_m μ_m L_m)), which shows beam hardening within
// each bin. The detector's energy response is ideal (charge summing without
// charge-sharing losses, efficiency 1, no pile-up); there is no scatter.
type Simulator struct {
	spec     Spec
	scan     *sinogram.Scan
	views    []fdk.View
	spectrum *Spectrum
	binRange [][2]int    // per bin, its energy intervals [from, to)
	weights  [][]float64 // [bin][interval] share of the bin's photons
	binShare []float64   // each bin's share of all photons
	mats     []string
	objects  []phantom.Phantom // per material: its partial densities
	mu       [][]float64       // [material][interval] 1/mm per g/cm³
	gain     [][]float64       // [bin][raw pixel]
	defect   []sinogram.Defect // per raw pixel
	falloff  []float64         // per virtual pixel
	virt     [][]int32         // [camera][raw pixel] -> virtual pixel
}

// Simulate writes a simulated scan to dir in the native format (scan.json,
// frames, bad-pixel mask).
func Simulate(dir string, spec Spec) error {
	sim, err := New(spec)
	if err != nil {
		return err
	}
	return sim.Write(dir)
}

// ErrSaturates is wrapped by New's error for open-beam counts the
// frames' sample type cannot hold.
var ErrSaturates = errors.New("the counts would saturate the counters")

// New checks spec and prepares the simulation. An empty Dtype becomes
// uint16 or, where the brightest bin's open beam would saturate it,
// uint32 (Simulator.Scan's counts say which).
func New(spec Spec) (*Simulator, error) {
	if err := checkSpec(&spec); err != nil {
		return nil, err
	}
	auto := spec.Dtype == ""
	if auto {
		spec.Dtype = sinogram.Uint16
	}
	s := &Simulator{spec: spec}
	var err error
	breaks := append(slices.Clone(spec.Thresholds), IodineKEdge, GadoliniumKEdge)
	if s.spectrum, err = TubeSpectrum(spec.KVp, spec.FiltrationMMAl, spec.Thresholds[0], spec.EnergyStep, breaks); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	s.setBins()
	if err := s.setMaterials(); err != nil {
		return nil, err
	}
	s.scan = s.manifest()
	if err := s.scan.Validate(); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	if s.views, err = s.scan.Geometry.Views(); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	s.placeChips()
	s.setFalloff()
	s.setDetector()
	maxGain := 0.0
	for _, g := range s.gain {
		maxGain = max(maxGain, slices.Max(g))
	}
	top := spec.OpenCounts * slices.Max(s.binShare) * maxGain
	saturates := func(dtype string) bool { return top+5*math.Sqrt(top) >= sinogram.Saturation(dtype) }
	if auto && saturates(sinogram.Uint16) {
		s.spec.Dtype, s.scan.Counts.Dtype = sinogram.Uint32, sinogram.Uint32
	}
	if saturates(s.spec.Dtype) {
		return nil, fmt.Errorf("simulate: OpenCounts %g: %w: up to %.0f in one bin, over what %s counters hold (%.0f)",
			spec.OpenCounts, ErrSaturates, top, s.spec.Dtype, sinogram.Saturation(s.spec.Dtype))
	}
	return s, nil
}

func checkSpec(spec *Spec) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("simulate: %s: %s", field, fmt.Sprintf(format, args...))
	}
	th := spec.Thresholds
	switch {
	case len(th) == 0 || len(th) > 8:
		return bad("Thresholds", "%d thresholds, want 1 to 8", len(th))
	case th[0] < minTableKeV:
		return bad("Thresholds", "lowest threshold %g keV is below the attenuation tables' %d keV", th[0], minTableKeV)
	case th[len(th)-1] >= spec.KVp:
		return bad("Thresholds", "highest threshold %g keV is not below the kVp %g", th[len(th)-1], spec.KVp)
	case !(spec.OpenCounts > 0) || math.IsInf(spec.OpenCounts, 0):
		return bad("OpenCounts", "%g, must be positive", spec.OpenCounts)
	case !(spec.DarkCounts >= 0) || !(spec.GainSpread >= 0 && spec.GainSpread < 0.3):
		return bad("DarkCounts/GainSpread", "%g/%g: dark counts must be zero or positive, the gain spread below 0.3", spec.DarkCounts, spec.GainSpread)
	case spec.Dead < 0 || spec.Hot < 0 || spec.Noisy < 0 || spec.Masked < 0 || spec.Masked > spec.Dead:
		return bad("Dead/Hot/Noisy/Masked", "%d/%d/%d/%d: counts must be zero or positive and Masked at most Dead", spec.Dead, spec.Hot, spec.Noisy, spec.Masked)
	case !(spec.CalibrationWaterMM >= 0):
		return bad("CalibrationWaterMM", "%g, must be zero or positive", spec.CalibrationWaterMM)
	case !(spec.ArcDegrees > 0 && spec.ArcDegrees <= 360):
		return bad("ArcDegrees", "%g, want (0, 360]", spec.ArcDegrees)
	case len(spec.Phantom) == 0:
		return bad("Phantom", "no regions")
	}
	for i := 1; i < len(th); i++ {
		if th[i] <= th[i-1] {
			return bad("Thresholds", "%v are not increasing", th)
		}
	}
	if n := spec.Layout.ChipsX * spec.Layout.ChipsY * spec.Layout.ChipPixels * spec.Layout.ChipPixels; spec.Dead+spec.Hot+spec.Noisy > n/10 {
		return bad("Dead/Hot/Noisy", "%d defects on %d pixels: at most a tenth", spec.Dead+spec.Hot+spec.Noisy, n)
	}
	if spec.Threads <= 0 {
		spec.Threads = runtime.NumCPU()
	}
	return nil
}

// setBins splits the spectrum among the bins.
func (s *Simulator) setBins() {
	th := append(slices.Clone(s.spec.Thresholds), s.spec.KVp)
	nb := len(s.spec.Thresholds)
	s.weights = make([][]float64, nb)
	s.binRange = make([][2]int, nb)
	for b := range s.weights {
		s.weights[b] = make([]float64, len(s.spectrum.Counts))
		s.binRange[b] = [2]int{len(s.spectrum.Counts), 0}
	}
	s.binShare = make([]float64, nb)
	total := 0.0
	for k, c := range s.spectrum.Counts {
		e := s.spectrum.Energy(k)
		for b := range nb {
			if e >= th[b] && e < th[b+1] {
				s.weights[b][k] = c
				s.binShare[b] += c
				s.binRange[b] = [2]int{min(s.binRange[b][0], k), max(s.binRange[b][1], k+1)}
			}
		}
		total += c
	}
	for b := range nb {
		for k := range s.weights[b] {
			s.weights[b][k] /= s.binShare[b]
		}
		s.binShare[b] /= total
	}
}

// setMaterials builds one density phantom per material and its attenuation
// per energy interval.
func (s *Simulator) setMaterials() error {
	index := map[string]int{}
	for ri, r := range s.spec.Phantom {
		if len(r.Components) == 0 {
			return fmt.Errorf("simulate: phantom region %d (%s) has no components", ri, r.Name)
		}
		for _, c := range r.Components {
			if _, err := MassAttenuation(c.Material, 60); err != nil {
				return fmt.Errorf("simulate: phantom region %d (%s): %w", ri, r.Name, err)
			}
			if !(math.Abs(c.Density) < 30) {
				return fmt.Errorf("simulate: phantom region %d (%s): density %g g/cm³ of %s", ri, r.Name, c.Density, c.Material)
			}
			m, ok := index[c.Material]
			if !ok {
				m = len(s.mats)
				index[c.Material] = m
				s.mats = append(s.mats, c.Material)
				s.objects = append(s.objects, nil)
			}
			o := r.Shape
			o.Density = c.Density
			s.objects[m] = append(s.objects[m], o)
		}
	}
	s.mu = make([][]float64, len(s.mats))
	for m, name := range s.mats {
		s.mu[m] = make([]float64, len(s.spectrum.Counts))
		for k := range s.mu[m] {
			v, err := MassAttenuation(name, s.spectrum.Energy(k))
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			s.mu[m][k] = v / 10 // cm²/g · g/cm³ -> 1/cm, per mm of path: /10
		}
	}
	return nil
}

// WaterCalibration returns each bin's water attenuation in 1/mm: μ_water
// averaged over the bin's photons, weighted by the counts they give behind
// CalibrationWaterMM of water,
//
//	μ_b = Σ_k w_bk·e^(-μ_k t)·μ_k / Σ_k w_bk·e^(-μ_k t),
//
// the slope of the bin's line integral through water at that depth. With
// t = 0 it is the open-beam average; the default, the phantom's radius, is
// what a ray reaching the axis sees, so that water reads near 0 HU despite
// the beam hardening of the low bins.
func (s *Simulator) WaterCalibration() []float64 {
	out := make([]float64, len(s.weights))
	t := s.spec.CalibrationWaterMM
	for b, w := range s.weights {
		var num, den float64
		for k, wk := range w {
			if wk == 0 {
				continue
			}
			m, _ := MassAttenuation(Water, s.spectrum.Energy(k))
			mu := m * materialDensity[Water] / 10
			x := wk * math.Exp(-mu*t)
			num += x * mu
			den += x
		}
		out[b] = num / den
	}
	return out
}

// manifest builds the scan's scan.json.
func (s *Simulator) manifest() *sinogram.Scan {
	sp := s.spec
	acquired := sp.Acquired
	if acquired.IsZero() {
		acquired = time.Now().Truncate(time.Second)
	}
	sc := &sinogram.Scan{Format: sinogram.FormatName, Version: sinogram.FormatVersion, ScanID: sp.ScanID, Patient: sp.Patient, Study: sp.Study,
		Acquired: acquired.Format(time.RFC3339Nano),
		Tube:     sinogram.Tube{KVp: sp.KVp, FiltrationMMAl: sp.FiltrationMMAl},
		Views:    sp.Views,
		Layout:   sp.Layout,
		Counts:   sinogram.Counts{Dtype: sp.Dtype},
		Flats:    sp.Flats, Darks: sp.Darks,
		Files: sinogram.DefaultFiles,
		Vials: sp.Vials,
	}
	for _, sh := range sp.CameraShifts {
		sc.Cameras = append(sc.Cameras, sinogram.Camera{ShiftPixels: sh})
	}
	if sp.Masked > 0 {
		sc.BadPixelMask = "bad_pixels.u8"
	}
	cols, rows := sc.VirtualDetector()
	sc.Geometry = fdk.Geometry{SID: sp.SID, SDD: sp.SDD,
		Detector: fdk.Detector{Cols: cols, Rows: rows, PitchU: sp.Layout.Pitch, PitchV: sp.Layout.Pitch}}
	for i := range sp.Views {
		sc.Geometry.Angles = append(sc.Geometry.Angles, float64(i)*sp.ArcDegrees/float64(sp.Views)*math.Pi/180)
	}
	th := append(slices.Clone(sp.Thresholds), sp.KVp)
	for b := range sp.Thresholds {
		sc.Bins = append(sc.Bins, sinogram.EnergyBin{LowKeV: th[b], HighKeV: th[b+1], Mode: sp.Mode})
	}
	if len(s.weights) == len(sc.Bins) {
		for b, mu := range s.WaterCalibration() {
			sc.Bins[b].MuWater = mu
		}
	}
	return sc
}

// placeChips maps each camera position's raw pixels to the virtual
// detector chip by chip: chip (cx, cy) starts cx·(pixels+gapX) columns and
// cy·(pixels+gapY) rows into the camera, which starts at its shift. (The
// preprocessor computes the same map its own way; tests compare the two
// through the line integrals.)
func (s *Simulator) placeChips() {
	l := s.scan.Layout
	cols := s.scan.Geometry.Cols
	for _, cam := range s.scan.CameraPositions() {
		m := make([]int32, l.RawCols()*l.RawRows())
		for cy := range l.ChipsY {
			for cx := range l.ChipsX {
				for py := range l.ChipPixels {
					for px := range l.ChipPixels {
						raw := (cy*l.ChipPixels+py)*l.RawCols() + cx*l.ChipPixels + px
						vrow := cy*(l.ChipPixels+l.GapY) + py
						vcol := cam.ShiftPixels + cx*(l.ChipPixels+l.GapX) + px
						m[raw] = int32(vrow*cols + vcol)
					}
				}
			}
		}
		s.virt = append(s.virt, m)
	}
}

// setFalloff computes the beam's relative intensity on the virtual
// detector: inverse square of the distance times the obliquity, cos³ of the
// ray's angle to the detector normal.
func (s *Simulator) setFalloff() {
	g := &s.scan.Geometry
	s.falloff = make([]float64, g.Pixels())
	for r := range g.Rows {
		v := (float64(r)-float64(g.Rows-1)/2)*g.PitchV + g.OffsetV
		for c := range g.Cols {
			u := (float64(c)-float64(g.Cols-1)/2)*g.PitchU + g.OffsetU
			cos := g.SDD / math.Sqrt(g.SDD*g.SDD+u*u+v*v)
			s.falloff[r*g.Cols+c] = cos * cos * cos
		}
	}
}

// setDetector draws the gains and places the defects.
func (s *Simulator) setDetector() {
	l := s.scan.Layout
	n := l.RawCols() * l.RawRows()
	rng := rand.New(rand.NewPCG(s.spec.Seed, 0x9a1a))
	s.gain = make([][]float64, len(s.weights))
	for b := range s.gain {
		chip := make([]float64, l.ChipsX*l.ChipsY)
		for i := range chip {
			chip[i] = 1 + 0.5*s.spec.GainSpread*rng.NormFloat64()
		}
		g := make([]float64, n)
		for i := range g {
			x, y := i%l.RawCols(), i/l.RawCols()
			g[i] = max(0.2, chip[y/l.ChipPixels*l.ChipsX+x/l.ChipPixels]*(1+s.spec.GainSpread*rng.NormFloat64()))
		}
		s.gain[b] = g
	}
	s.defect = make([]sinogram.Defect, n)
	place := func(count int, d sinogram.Defect) {
		for count > 0 {
			i := rng.IntN(n)
			if s.defect[i] == 0 {
				s.defect[i] = d
				count--
			}
		}
	}
	place(s.spec.Dead, sinogram.Dead)
	place(s.spec.Hot, sinogram.Hot)
	place(s.spec.Noisy, sinogram.Noisy)
	masked := s.spec.Masked
	for i := range s.defect {
		if masked > 0 && s.defect[i] == sinogram.Dead {
			s.defect[i] |= sinogram.Masked
			masked--
		}
	}
}

// OpenCounts returns each bin's mean open-beam counts per frame for a pixel
// of gain 1 at the detector's centre.
func (s *Simulator) OpenCounts() []float64 {
	out := make([]float64, len(s.binShare))
	for b, f := range s.binShare {
		out[b] = s.spec.OpenCounts * f
	}
	return out
}

// Scan returns the manifest the simulator writes.
func (s *Simulator) Scan() *sinogram.Scan { return s.scan }

// Spectrum returns the tube spectrum, from the lowest threshold to the kVp.
func (s *Simulator) Spectrum() *Spectrum { return s.spectrum }

// Defects lists the injected defective pixels in raw frame coordinates,
// with Masked set for those the bad-pixel mask lists.
func (s *Simulator) Defects() []sinogram.BadPixel {
	cols := s.scan.Layout.RawCols()
	var out []sinogram.BadPixel
	for i, d := range s.defect {
		if d != 0 {
			out = append(out, sinogram.BadPixel{X: i % cols, Y: i / cols, Defect: d})
		}
	}
	return out
}

// Write writes the scan to dir: scan.json, the bad-pixel mask, the flats
// and darks, then the projections view by view.
func (s *Simulator) Write(dir string) error {
	sc := s.scan
	if err := sc.WriteManifest(dir); err != nil {
		return err
	}
	if sc.BadPixelMask != "" {
		mask := make([]bool, len(s.defect))
		for i, d := range s.defect {
			mask[i] = d&sinogram.Masked != 0
		}
		if err := sc.WriteBadPixelMask(mask); err != nil {
			return err
		}
	}
	cams := len(sc.CameraPositions())
	open := make([]float64, sc.Geometry.Pixels())
	for i := range open {
		open[i] = 1
	}
	for b := range sc.Bins {
		for c := range cams {
			for k := range sc.Flats {
				id := uint64(streamFlat | b<<20 | c<<12 | k)
				if _, err := sc.WriteFrame(sinogram.FlatFrame, 0, b, c, k, s.frameCounts(b, c, open, id)); err != nil {
					return err
				}
			}
			for k := range sc.Darks {
				id := uint64(streamDark | b<<20 | c<<12 | k)
				if _, err := sc.WriteFrame(sinogram.DarkFrame, 0, b, c, k, s.frameCounts(b, c, nil, id)); err != nil {
					return err
				}
			}
		}
	}
	errs := make([]error, sc.Views)
	var mu sync.Mutex
	done := 0
	parallel.For(sc.Views, s.spec.Threads, func(v int) {
		errs[v] = s.writeView(v)
		mu.Lock()
		defer mu.Unlock()
		if done++; s.spec.Progress != nil {
			s.spec.Progress(done, sc.Views)
		}
	})
	return errors.Join(errs...)
}

func (s *Simulator) writeView(v int) error {
	trans, err := s.transmission(v)
	if err != nil {
		return fmt.Errorf("simulate view %d: %w", v, err)
	}
	for b := range s.scan.Bins {
		for c := range s.scan.CameraPositions() {
			id := uint64(v)<<20 | uint64(b)<<12 | uint64(c)
			if _, err := s.scan.WriteFrame(sinogram.ProjectionFrame, v, b, c, 0, s.frameCounts(b, c, trans[b], id)); err != nil {
				return err
			}
		}
	}
	return nil
}
