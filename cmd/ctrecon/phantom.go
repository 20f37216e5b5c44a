package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
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
	fs.Float64Var(&s.noise, "noise", 0, "open-beam photon counts per pixel for Poisson noise (0: exact projections)")
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
			if err := sinogram.AddPoissonNoise(p, s.noise, rng); err != nil {
				return nil, nil, nil, fmt.Errorf("--noise: %w", err)
			}
		}
	}
	return g, ph, projs, nil
}

func runPhantom(args []string) error {
	fs := flag.NewFlagSet("phantom", flag.ContinueOnError)
	out := fs.String("o", "", "output projection folder (plastimatch layout: <prefix>NNNN.pfm + .txt)")
	prefix := fs.String("prefix", "img", "file name prefix")
	var s scanFlags
	s.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("-o DIR is required")
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
