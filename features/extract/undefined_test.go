package extract

import (
	"math"
	"slices"
	"testing"

	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
)

// TestScanUndefinedFeatureRecords checks a scan with an object whose
// radiomics has an undefined feature: the synthetic scan's water, its HU
// −10 and +10 in a checkerboard, has P25 = −P75 in every bin, so its
// quartile coefficient of dispersion divides by 0. The water's records are
// there, that value NaN (null in JSON), and every record marshals and
// writes to Parquet, where a +Inf failed the whole job's records.
func TestScanUndefinedFeatureRecords(t *testing.T) {
	bins := scanBins()
	g := scanGrid
	for v := range bins[0].Volume.Data {
		i, j, k := v%g.Dim[0], v/g.Dim[0]%g.Dim[1], v/(g.Dim[0]*g.Dim[1])
		for b := range bins {
			if mu := &bins[b].Volume.Data[v]; *mu == float32(scanMuWater[b]) {
				hu := float64(20*((i+j+k)%2) - 10)
				*mu = float32(scanMuWater[b] * (1 + hu/1000))
			}
		}
	}
	res, err := Scan(bins, scanSeries, scanIDs(), DefaultScanSettings())
	if err != nil {
		t.Fatal(err)
	}
	qcod := slices.Index(res.Names[KindRadiomics], "stat.qcod")
	if qcod < 0 {
		t.Fatalf("no stat.qcod among %v", res.Names[KindRadiomics])
	}
	water := 0
	for _, r := range res.Records {
		if _, err := records.Marshal(&r); err != nil {
			t.Fatalf("bin %d, object %d (%s), %s: %v", r.Bin, r.Object, r.Class, r.KindVersion(), err)
		}
		if r.KindVersion() != KindRadiomics || r.Class != string(segment.Water) {
			continue
		}
		water++
		if v := r.Values[qcod]; !math.IsNaN(float64(v)) {
			t.Errorf("bin %d, water: stat.qcod = %g, want NaN (P25 + P75 = 0)", r.Bin, v)
		}
	}
	if water != len(bins) {
		t.Fatalf("%d water radiomics records, want %d", water, len(bins))
	}
	checkParquet(t, res)
}

// TestFloat32sBeyondRange checks that a value a record's float32 cannot
// hold becomes NaN (undefined), not ±Inf, which the record refuses, and
// the others are kept.
func TestFloat32sBeyondRange(t *testing.T) {
	got := float32s(1e39, -1e39, math.Inf(1), math.NaN(), 1.5, -math.MaxFloat32)
	for i, want := range []float32{float32(math.NaN()), float32(math.NaN()), float32(math.NaN()), float32(math.NaN()), 1.5, -math.MaxFloat32} {
		if math.Float32bits(got[i]) != math.Float32bits(want) && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want))) {
			t.Errorf("value %d: %g, want %g", i, got[i], want)
		}
	}
	if _, err := records.Marshal(&records.Record{Kind: "k", Version: 1, Settings: "h", Values: got}); err != nil {
		t.Fatal(err)
	}
}
