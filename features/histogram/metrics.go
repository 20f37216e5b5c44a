package histogram

import (
	"fmt"

	"github.com/ctrecon/ctrecon/fdk"
)

// Metrics holds the metric histograms of one volume: of the whole volume, of
// each axial slice and of each object.
type Metrics struct {
	Settings Settings `json:"settings"`
	Volume   Metric   `json:"volume"`
	// Slices has one metric histogram per slice with a voxel counted, in
	// increasing z.
	Slices []SliceMetric `json:"slices"`
	// Objects has one metric histogram per object (positive label) with a
	// voxel counted, in increasing label order.
	Objects []ObjectMetric `json:"objects"`
}

// SliceMetric is the metric histogram of axial slice Z (its z index).
type SliceMetric struct {
	Z int `json:"z"`
	Metric
}

// ObjectMetric is the metric histogram of the voxels labelled Label.
type ObjectMetric struct {
	Label int32 `json:"label"`
	Metric
}

// MetricHistograms counts the voxels of vol as Count does (muWater in 1/mm,
// sel choosing voxels and objects) with s.Binning and reduces the histogram
// of the volume, of each slice and of each object with Reduce.
//
// Errors wrap ErrInput (Count's, or settings Validate refuses, checked
// before anything is counted) or ErrEmpty (no voxel counted).
func MetricHistograms(vol *fdk.Volume, muWater float64, sel Selection, s Settings) (*Metrics, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	c, err := Count(vol, muWater, s.Binning, sel)
	if err != nil {
		return nil, err
	}
	return MetricsOf(c, s)
}

// MetricsOf reduces counts that Count made with s.Binning as
// MetricHistograms does, for a caller that has them already (the worker
// counts each bin once for these and its HU histograms). Errors wrap
// ErrInput (settings Validate refuses, counts of another binning) or
// ErrEmpty (no voxel counted).
func MetricsOf(c *Counts, s Settings) (*Metrics, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if c.Binning != s.Binning {
		return nil, fmt.Errorf("%w: the counts have binning %+v, the settings %+v", ErrInput, c.Binning, s.Binning)
	}
	if c.Volume.N == 0 {
		return nil, fmt.Errorf("%w: every selected voxel is 0", ErrEmpty)
	}
	out := &Metrics{Settings: s}
	// Reduce cannot fail from here: the settings are valid and every
	// histogram below has counts.
	out.Volume, _ = Reduce(&c.Volume, s)
	for z := range c.Slices {
		if c.Slices[z].N > 0 {
			m, _ := Reduce(&c.Slices[z], s)
			out.Slices = append(out.Slices, SliceMetric{Z: z, Metric: m})
		}
	}
	for _, o := range c.Objects {
		m, _ := Reduce(&o.Histogram, s)
		out.Objects = append(out.Objects, ObjectMetric{Label: o.Label, Metric: m})
	}
	return out, nil
}
