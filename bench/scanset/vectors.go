package scanset

import (
	"fmt"
	"strconv"

	"github.com/ctrecon/ctrecon/bench/ann"
	"github.com/ctrecon/ctrecon/bench/featvec"
	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/index"
)

// The feature kinds Vectors makes.
const (
	// KindHU is each object's normalised HU histogram in each bin
	// (histogram.HU's 64 bins), compared by the Euclidean distance.
	KindHU = "hist-hu"
	// KindMetric is each object's metric histogram in each bin
	// (histogram.Metric.Vector), compared by DM (histogram.DMIndexMetric).
	KindMetric = "mhist-hu"
	// KindRadiomics is each object's radiomics in each bin, standardised
	// over the set (featvec.Standardise), compared by the Euclidean
	// distance.
	KindRadiomics = "radiomics"
	// KindSpectral is each object's spectral signature (one value per
	// bin), compared by the Euclidean distance as spectral.Distance does.
	KindSpectral = "spectral"
)

// Kinds lists the feature kinds.
var Kinds = []string{KindHU, KindMetric, KindRadiomics, KindSpectral}

// MetricOf returns the distance kind's vectors are compared by.
func MetricOf(kind string) index.Metric {
	if kind == KindMetric {
		return histogram.DMIndexMetric
	}
	return index.Euclidean
}

// Vectors returns the set's vectors of kind, one per object (spectral)
// or per object and energy bin (the others, objects first), labelled by
// the insert's material, and each vector's bin (as text) for queries
// that search one bin's records; nil for the spectral kind.
func (s *Set) Vectors(kind string) (*ann.Set, []string, error) {
	if kind == KindSpectral {
		out := &ann.Set{Name: "scans " + kind, Dim: s.Bins}
		for _, o := range s.Objects {
			out.Data = append(out.Data, o.Spectral...)
			out.Labels = append(out.Labels, o.Insert.Material)
		}
		return out, nil, nil
	}
	rows, labels, bins, err := s.perBin(kind)
	if err != nil {
		return nil, nil, err
	}
	if kind == KindRadiomics {
		rows, _ = featvec.Standardise(rows)
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return nil, nil, fmt.Errorf("scans %s: no vectors", kind)
	}
	out := &ann.Set{Name: "scans " + kind, Dim: len(rows[0]), Labels: labels}
	for _, r := range rows {
		out.Data = append(out.Data, r...)
	}
	return out, bins, nil
}

// perBin returns the vectors of a per-bin kind, their labels and bins;
// an object's bin without radiomics has no radiomics vector.
func (s *Set) perBin(kind string) (rows [][]float32, labels, bins []string, err error) {
	points := 0
	for _, o := range s.Objects {
		for _, m := range o.Metric {
			points = max(points, len(m.Points))
		}
	}
	for _, o := range s.Objects {
		for b := range s.Bins {
			var v []float32
			switch kind {
			case KindHU:
				v = o.HU[b]
			case KindMetric:
				if v, err = o.Metric[b].Vector(points); err != nil {
					return nil, nil, nil, err
				}
			case KindRadiomics:
				v = o.Radiomics[b]
			default:
				return nil, nil, nil, fmt.Errorf("unknown feature kind %q (want one of %v)", kind, Kinds)
			}
			if v == nil {
				continue
			}
			rows, labels, bins = append(rows, v), append(labels, o.Insert.Material), append(bins, strconv.Itoa(b))
		}
	}
	return rows, labels, bins, nil
}
