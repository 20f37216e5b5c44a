package histogram

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/features/internal/settingshash"
)

// Settings are what metric histograms are computed with. A feature record
// names them by Hash; metric histograms of different settings are not
// comparable.
type Settings struct {
	// Binning is the HU histogram's binning; the curve is drawn through
	// its bin centres.
	Binning Binning `json:"binning"`
	// Tolerance is the largest DM (in [0, 2]) the reduction may put
	// between a histogram's curve and its metric histogram.
	Tolerance float64 `json:"tolerance"`
	// MaxBuckets bounds the number of buckets; when the Tolerance leaves
	// more, points are removed past it, least area first.
	MaxBuckets int `json:"max_buckets"`
}

// DefaultSettings reduce the published HU histogram (HU, 64 bins) to at most
// 32 buckets within DM 0.01 of it: 1 % of the voxels' share.
func DefaultSettings() Settings {
	return Settings{Binning: HU, Tolerance: 0.01, MaxBuckets: 32}
}

// Validate reports settings Reduce cannot use. Errors wrap ErrInput.
func (s Settings) Validate() error {
	if err := s.Binning.Validate(); err != nil {
		return err
	}
	if !(s.Tolerance >= 0) || math.IsInf(s.Tolerance, 1) {
		return fmt.Errorf("%w: tolerance %g, want a finite DM of at least 0", ErrInput, s.Tolerance)
	}
	if s.MaxBuckets < 1 {
		return fmt.Errorf("%w: max_buckets %d, want at least 1", ErrInput, s.MaxBuckets)
	}
	return nil
}

// Hash names the settings in a feature record: 16 hexadecimal digits that
// change whenever any setting does (settingshash.Of). Valid settings only.
func (s Settings) Hash() string { return settingshash.Of(s) }
