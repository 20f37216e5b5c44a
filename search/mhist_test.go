package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/features/records"
)

// metricRecords returns n metric histogram records of random curves of 3
// to 33 points, each its own series, and their curves.
func metricRecords(n int, seed uint64) ([]records.Record, []histogram.Metric) {
	rng := rand.New(rand.NewPCG(seed, 9))
	var recs []records.Record
	var curves []histogram.Metric
	for i := range n {
		m := histogram.Metric{}
		hu := -1000.0
		for range 3 + rng.IntN(31) {
			hu += 1 + rng.Float64()*100
			m.Points = append(m.Points, histogram.Point{HU: float64(float32(hu)), Density: float64(float32(rng.Float64() / 1000))})
		}
		var v records.Vector
		for _, p := range m.Points {
			v = append(v, float32(p.HU), float32(p.Density))
		}
		base := records.Record{StudyUID: "1.2.9", SeriesUID: fmt.Sprintf("1.2.9.%d", i), Slice: -1, Settings: "0123456789abcdef"}
		recs = append(recs, withKind(base, "mhist-hu", v, m))
		curves = append(curves, m)
	}
	return recs, curves
}

// TestMetricHistogramsByDM: metric histograms, of as many points as each
// has, are searched by DM (histogram.DM, the area between the curves): by
// example, by a curve given as (HU, density) pairs and within a distance,
// before and after a restart from the snapshot; a curve that is no metric
// histogram is a query error naming it.
func TestMetricHistogramsByDM(t *testing.T) {
	recs, curves := metricRecords(300, 31)
	dir := t.TempDir()
	l := openFixture(t, Config{Dir: dir}, recs)
	want := func(q int) []float64 {
		var d []float64
		for i := range curves {
			if i != q {
				d = append(d, histogram.DM(&curves[q], &curves[i]))
			}
		}
		slices.Sort(d)
		return d
	}
	check := func(name string, l *Library) {
		for _, q := range []int{0, 17, 299} {
			a, err := l.Search(context.Background(), Query{Kind: histogram.KindMetric, Like: ItemOf(&recs[q]).String(), K: 10})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			w := want(q)[:10]
			got := make([]float64, len(a.Hits))
			for i, h := range a.Hits {
				got[i] = deref(h.Distance)
			}
			if !slices.EqualFunc(got, w, func(x, y float64) bool { return math.Abs(x-y) < 1e-6 }) || a.Index != dmIndex {
				t.Errorf("%s: like %d: DMs %v by %s, want %v by %s", name, q, got, a.Index, w, dmIndex)
			}
		}
	}
	check("by example", l)
	r := want(5)[4]
	a, err := l.Search(context.Background(), Query{Kind: histogram.KindMetric, Vector: recs[5].Values, Within: &r, Limit: 100})
	if err != nil || len(a.Hits) != 6 || deref(a.Hits[0].Distance) != 0 {
		t.Errorf("within %g of curve 5 given as pairs: %+v, %v; want itself at 0 and its 5 nearest", r, a, err)
	}
	if _, err := l.Search(context.Background(), Query{Kind: histogram.KindMetric, Vector: []float32{0, 1, -5, 1}}); !errors.Is(err, ErrQuery) {
		t.Errorf("a curve whose HU fall: %v, want a query error", err)
	}
	if err := l.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	check("after a restart", openFixture(t, Config{Dir: dir}, nil))
}
