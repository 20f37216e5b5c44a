package radiomics

import (
	"math"
	"testing"
)

// TestThinRingRatiosUndefined checks a thin ring of few voxels
// whose HU have P25 = −P75, or a mean of 0, as a ring of partial volume
// at a phantom's air edge has after rounding: the quartile coefficient of
// dispersion (and the coefficient of variation) divide by 0 there, as the
// ellipsoid volume density of a one-plane ROI does (its least axis is 0);
// IBSI leaves them undefined, so they are NaN, and no feature of any
// family is ±Inf (the old formulas gave +Inf, which a feature record
// refuses).
func TestThinRingRatiosUndefined(t *testing.T) {
	grey := Discretisation{Method: FixedBinNumber, Bins: 32}
	s := Settings{Discretisation: grey, IVH: grey,
		Texture:  Texture{Aggregations: []string{Agg3D}, Distance: 1, ZoneDistance: 1},
		Families: []string{"morph", "stat", "ih", "ivh", "cm", "rlm", "szm", "dzm", "ngt", "ngl"}}
	// The ring: the 16 voxels on the square of half-width 2 about the
	// centre of the middle plane, their HU in the ring's order.
	ring := func(i, j, k int) bool {
		return k == 3 && max(abs(i-3), abs(j-3)) == 2
	}
	for _, c := range []struct {
		name  string
		hu    []float64
		nan   []string // the features undefined
		check map[string]float64
	}{
		// Type-7 quartiles of 16 values: P25 = −20 and P75 = 20, the mean
		// 17.5.
		{"P25 = -P75", []float64{-20, -20, -20, -20, -20, 0, 0, 0, 0, 0, 0, 20, 20, 20, 20, 300},
			[]string{"stat.qcod", "morph.v.dens.aee"}, map[string]float64{"stat.iqr": 40, "stat.mean": 17.5}},
		{"mean 0", []float64{-20, 20, -20, 20, -20, 20, -20, 20, -20, 20, -20, 20, -20, 20, -20, 20},
			[]string{"stat.qcod", "stat.cov", "morph.v.dens.aee"}, map[string]float64{"stat.var": 400}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			img, mask := cube(7, 0.5, func(i, j, k int) float64 {
				if !ring(i, j, k) {
					return -1000
				}
				n++
				return c.hu[n-1]
			}, ring)
			feats, err := Compute(img, mask, s)
			if err != nil {
				t.Fatal(err)
			}
			got := byTag(feats)
			for _, tag := range c.nan {
				if v := got[tag+"|"]; !math.IsNaN(v) {
					t.Errorf("%s = %g, want NaN (undefined: a ratio over 0)", tag, v)
				}
			}
			for tag, want := range c.check {
				if v := got[tag+"|"]; math.Abs(v-want) > 1e-9 {
					t.Errorf("%s = %g, want %g", tag, v, want)
				}
			}
			for _, f := range feats {
				if math.IsInf(f.Value, 0) {
					t.Errorf("%s|%s = %g, want a finite value or NaN", f.Tag, f.Aggregation, f.Value)
				}
			}
			// The discretised histogram's own ratios stay defined: its
			// grey levels are 1 or more.
			for _, tag := range []string{"ih.qcod", "ih.cov"} {
				if v := got[tag+"|"]; math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%s = %g, want a finite value", tag, v)
				}
			}
		})
	}
}

// TestBusynessEqualWeightedLevels checks NGTDM busyness where its
// denominator Σ|i p_i − j p_j| is 0 with two grey levels (level 1 on twice
// as many voxels as level 2): 0, as pyradiomics has it, not +Inf.
func TestBusynessEqualWeightedLevels(t *testing.T) {
	m := &ngtdm{n: []float64{2, 1}, s: []float64{1, 1}}
	got := byTag(emit(nil, ngtFeatures, values(ngtFeatures, m.differences()), ""))
	if v := got["ngt.busyness|"]; v != 0 {
		t.Errorf("busyness = %g, want 0", v)
	}
}
