// Package spectral describes each object of a spectral scan by its
// attenuation across the energy bins: per bin the mean and standard
// deviation of the attenuation (1/mm) and of the Hounsfield units, and a
// normalised signature vector that compares materials, not amounts.
//
// The signature is the object's mean HU per bin divided by their L2 norm.
// A contrast agent or mineral dissolved in water at concentration c
// changes each bin's HU by c times a constant of the material and the bin
// (HU_b = 1000 c (μ/ρ)_b / μ_water,b, water's own HU being 0), so its HU
// vector points the same way at every concentration and the unit vector
// is the material's: iodine at 10 and 20 mg/ml share a signature, and
// iodine and gadolinium, whose K-edges fall in different bins, do not.
// Attenuation relative to water (μ_b/μ_water,b) would not do: it is 1 plus
// that vector, whose direction moves with the concentration. Objects whose
// HU norm is under Settings.MinNormHU (water, unenhanced soft tissue: no
// direction above noise) get the zero vector, so that they are near each
// other and at distance 1 from every material that has a direction. The
// Euclidean distance of two unit signatures is √(2 − 2 cos θ), a function
// of the angle between them: what the search index's Euclidean distance
// compares.
package spectral

import (
	"errors"
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/features/segment"
)

// Kind names the signatures, with their version, in feature records.
const Kind = "spectral-v1"

// ErrInput is wrapped by every error about the arguments.
var ErrInput = errors.New("cannot compute spectral signatures")

// Settings are how signatures are made. Their Hash goes into feature
// records, with the objects' own (segment.Settings.Hash).
type Settings struct {
	// MinNormHU is the L2 norm of an object's mean HU over the bins below
	// which its signature is the zero vector.
	MinNormHU float64 `json:"min_norm_hu"`
}

// DefaultSettings sets MinNormHU to 50 HU: above the few HU by which
// water's mean strays from 0 in a calibrated bin (beam hardening, noise of
// the mean), below the norm of 10 mg/ml of iodine (over 900 HU in the
// simulated MARS bins) or of lipid (about 400 HU).
func DefaultSettings() Settings { return Settings{MinNormHU: 50} }

// Hash returns segment.HashSettings of Kind and s.
func (s Settings) Hash() string { return segment.HashSettings(Kind, s) }

// BinStats is one object's values in one energy bin.
type BinStats struct {
	Index   int     `json:"bin"`
	LowKeV  float64 `json:"low_kev"`
	HighKeV float64 `json:"high_kev"`
	MuWater float64 `json:"mu_water"` // 1/mm
	// Voxels is how many voxels were counted: the object's, less those
	// outside the field of view (exactly 0).
	Voxels int     `json:"voxels"`
	MeanMu float64 `json:"mean_mu"` // 1/mm
	SDMu   float64 `json:"sd_mu"`   // 1/mm, sample standard deviation
	MeanHU float64 `json:"mean_hu"`
	SDHU   float64 `json:"sd_hu"`
}

// Signature is one object's spectrum.
type Signature struct {
	Label  int64         `json:"label"`
	Class  segment.Class `json:"class,omitempty"`
	Bins   []BinStats    `json:"bins"`
	Vector []float64     `json:"vector"` // one value per bin, unit length or zero
}

// Signatures are the spectra of a segmentation's objects.
type Signatures struct {
	Settings Settings
	// Objects is the segmentation's settings hash (segment.Settings.Hash).
	Objects    string
	Signatures []Signature
}

// Kind returns Kind.
func (s *Signatures) Kind() string { return Kind }

// Compute returns the signature of every object of seg in bins (the same
// scan's energy bins, in increasing energy, on seg's grid), from each
// bin's segment.Segmentation.StatsOf (those Auto took, when it took them,
// so the bins must not have changed since). An object with
// no voxel inside the field of view in some bin is an error naming it.
// Errors wrap ErrInput or segment.ErrInput.
func Compute(seg *segment.Segmentation, bins []segment.Bin, s Settings) (*Signatures, error) {
	if !(s.MinNormHU >= 0) || math.IsInf(s.MinNormHU, 1) {
		return nil, fmt.Errorf("%w: settings: MinNormHU: %g, must be zero or positive", ErrInput, s.MinNormHU)
	}
	if seg == nil || len(bins) == 0 {
		return nil, fmt.Errorf("%w: no objects or no energy bins", ErrInput)
	}
	out := &Signatures{Settings: s, Objects: seg.Settings.Hash(), Signatures: make([]Signature, len(seg.Objects))}
	for o, obj := range seg.Objects {
		out.Signatures[o] = Signature{Label: obj.Label, Class: obj.Class, Bins: make([]BinStats, len(bins))}
	}
	for b, bin := range bins {
		if !(bin.MuWater > 0) || math.IsInf(bin.MuWater, 1) {
			return nil, fmt.Errorf("%w: bin %d: water attenuation %g 1/mm, must be positive", ErrInput, bin.Index, bin.MuWater)
		}
		if b > 0 && !(bin.LowKeV > bins[b-1].LowKeV) {
			return nil, fmt.Errorf("%w: bin %d (%g keV) follows bin %d (%g keV): bins must come in increasing energy", ErrInput, bin.Index, bin.LowKeV, bins[b-1].Index, bins[b-1].LowKeV)
		}
		st, err := seg.StatsOf(bin.Volume)
		if err != nil {
			return nil, fmt.Errorf("bin %d: %w", bin.Index, err)
		}
		for o, x := range st {
			if x.N == 0 {
				return nil, fmt.Errorf("%w: object %d has no voxel inside the field of view in bin %d", ErrInput, seg.Objects[o].Label, bin.Index)
			}
			out.Signatures[o].Bins[b] = BinStats{Index: bin.Index, LowKeV: bin.LowKeV, HighKeV: bin.HighKeV, MuWater: bin.MuWater,
				Voxels: x.N, MeanMu: x.Mean, SDMu: x.SD, MeanHU: bin.HU(x.Mean), SDHU: 1000 * x.SD / bin.MuWater}
		}
	}
	for o := range out.Signatures {
		out.Signatures[o].Vector = vector(out.Signatures[o].Bins, s.MinNormHU)
	}
	return out, nil
}

// vector is the mean HU per bin over their L2 norm, or zeros when the norm
// is under minNorm.
func vector(bins []BinStats, minNorm float64) []float64 {
	v := make([]float64, len(bins))
	norm := 0.0
	for _, b := range bins {
		norm += b.MeanHU * b.MeanHU
	}
	norm = math.Sqrt(norm)
	if norm < minNorm || norm == 0 {
		return v
	}
	for i, b := range bins {
		v[i] = b.MeanHU / norm
	}
	return v
}

// Distance returns the Euclidean distance between two signature vectors,
// or +Inf when their lengths differ (signatures of different bins).
func Distance(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return math.Sqrt(s)
}
