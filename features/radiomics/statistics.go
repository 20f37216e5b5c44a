package radiomics

import (
	"math"
	"slices"
)

// distribution summarises a set of values (intensities, or discretised
// intensities) as IBSI's statistical features need them. Moments are not
// bias-corrected; percentiles interpolate linearly between order
// statistics (Hyndman and Fan's type 7, the usual default).
type distribution struct {
	sorted                             []float64
	mean, variance, skewness, kurtosis float64
	median, p10, p25, p75, p90         float64
	mad, rmad, medad, energy           float64
}

func describe(values []float64) *distribution {
	d := &distribution{sorted: slices.Clone(values)}
	slices.Sort(d.sorted)
	n := float64(len(values))
	for _, v := range values {
		d.mean += v
		d.energy += v * v
	}
	d.mean /= n
	var m3, m4 float64
	for _, v := range values {
		e := v - d.mean
		d.variance += e * e
		m3 += e * e * e
		m4 += e * e * e * e
		d.mad += math.Abs(e)
	}
	d.variance /= n
	d.mad /= n
	if d.variance > 0 { // IBSI: 0 for a constant ROI
		d.skewness = m3 / n / math.Pow(d.variance, 1.5)
		d.kurtosis = m4/n/(d.variance*d.variance) - 3
	}
	d.median = d.percentile(0.5)
	d.p10, d.p25, d.p75, d.p90 = d.percentile(0.1), d.percentile(0.25), d.percentile(0.75), d.percentile(0.9)
	for _, v := range values {
		d.medad += math.Abs(v - d.median)
	}
	d.medad /= n
	d.rmad = robustMeanAbsoluteDeviation(d.sorted, d.p10, d.p90)
	return d
}

// percentile returns the q-quantile (0 ≤ q ≤ 1).
func (d *distribution) percentile(q float64) float64 {
	s := d.sorted
	p := q * float64(len(s)-1)
	k := int(math.Floor(p))
	if k >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[k] + (p-float64(k))*(s[k+1]-s[k])
}

func (d *distribution) min() float64 { return d.sorted[0] }
func (d *distribution) max() float64 { return d.sorted[len(d.sorted)-1] }

// robustMeanAbsoluteDeviation is the mean absolute deviation from their
// mean of the values between the 10th and 90th percentiles, inclusive.
func robustMeanAbsoluteDeviation(sorted []float64, p10, p90 float64) float64 {
	var sum, n float64
	for _, v := range sorted {
		if v >= p10 && v <= p90 {
			sum += v
			n++
		}
	}
	mean := sum / n
	var dev float64
	for _, v := range sorted {
		if v >= p10 && v <= p90 {
			dev += math.Abs(v - mean)
		}
	}
	return dev / n
}

// ratio returns num/den, or NaN where den is 0, where IBSI's ratios are
// undefined: the relative dispersions (coefficient of variation, quartile
// coefficient of dispersion) for a mean or a P25 + P75 of 0, which
// intensities of either sign (HU) can have (a thin ring at an air edge
// whose rounded HU have P25 = −P75 made the quartile coefficient +Inf),
// and the ellipsoid volume density of an ROI of one plane.
func ratio(num, den float64) float64 {
	if den == 0 {
		return math.NaN()
	}
	return num / den
}

// statFeatures are IBSI's intensity-based statistical features (UHIW).
var statFeatures = []def[*distribution]{
	{Definition{"stat.mean", "Q4LE", "Mean intensity"}, func(d *distribution) float64 { return d.mean }},
	{Definition{"stat.var", "ECT3", "Intensity variance"}, func(d *distribution) float64 { return d.variance }},
	{Definition{"stat.skew", "KE2A", "Intensity skewness"}, func(d *distribution) float64 { return d.skewness }},
	{Definition{"stat.kurt", "IPH6", "(Excess) intensity kurtosis"}, func(d *distribution) float64 { return d.kurtosis }},
	{Definition{"stat.median", "Y12H", "Median intensity"}, func(d *distribution) float64 { return d.median }},
	{Definition{"stat.min", "1GSF", "Minimum intensity"}, (*distribution).min},
	{Definition{"stat.p10", "QG58", "10th intensity percentile"}, func(d *distribution) float64 { return d.p10 }},
	{Definition{"stat.p90", "8DWT", "90th intensity percentile"}, func(d *distribution) float64 { return d.p90 }},
	{Definition{"stat.max", "84IY", "Maximum intensity"}, (*distribution).max},
	{Definition{"stat.iqr", "SALO", "Intensity interquartile range"}, func(d *distribution) float64 { return d.p75 - d.p25 }},
	{Definition{"stat.range", "2OJQ", "Intensity range"}, func(d *distribution) float64 { return d.max() - d.min() }},
	{Definition{"stat.mad", "4FUA", "Intensity-based mean absolute deviation"}, func(d *distribution) float64 { return d.mad }},
	{Definition{"stat.rmad", "1128", "Intensity-based robust mean absolute deviation"}, func(d *distribution) float64 { return d.rmad }},
	{Definition{"stat.medad", "N72L", "Intensity-based median absolute deviation"}, func(d *distribution) float64 { return d.medad }},
	{Definition{"stat.cov", "7TET", "Intensity-based coefficient of variation"}, func(d *distribution) float64 { return ratio(math.Sqrt(d.variance), d.mean) }},
	{Definition{"stat.qcod", "9S40", "Intensity-based quartile coefficient of dispersion"}, func(d *distribution) float64 { return ratio(d.p75-d.p25, d.p75+d.p25) }},
	{Definition{"stat.energy", "N8CA", "Intensity-based energy"}, func(d *distribution) float64 { return d.energy }},
	{Definition{"stat.rms", "5ZWQ", "Root mean square intensity"}, func(d *distribution) float64 { return math.Sqrt(d.energy / float64(len(d.sorted))) }},
}

func init() {
	familyTable["stat"] = family{
		defs: func() []Definition { return definitions(statFeatures) },
		compute: func(r *roi) []Feature {
			return emit(nil, statFeatures, values(statFeatures, describe(r.values)), "")
		},
	}
}
