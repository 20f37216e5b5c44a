package search

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/features/records"
	sp "github.com/ctrecon/ctrecon/features/spatial"
)

// TestSimilarMatchesBruteForce: the k nearest to an indexed item and to a
// given vector, per kind, from the exact index, are the brute-force ones,
// with the same distances, the query's own item left out.
func TestSimilarMatchesBruteForce(t *testing.T) {
	recs := fixtureRecords(60, 1)
	l := openFixture(t, Config{Index: "exact"}, recs)
	for _, kind := range []string{"hist-hu-v1", "radiomics-v1", "objects-v1", "spectral-v1"} {
		for i, r := range ofKind(recs, kind)[:5] {
			like := ItemOf(&r).String()
			hits, a := all(t, l, Query{Kind: kind, Like: like, K: 25, Limit: 7})
			want := brute(recs, kind, indexed(r.Values), like, nil)[:25]
			checkHits(t, fmt.Sprintf("%s like %s", kind, like), hits, want)
			if a.Index != "exact" || a.Kind != kind {
				t.Errorf("%s: served by %q for %q, want exact", kind, a.Index, a.Kind)
			}
			if i == 0 {
				q := indexed(r.Values)
				q[0] += 0.5
				hits, _ := all(t, l, Query{Kind: kind, Vector: q, K: 10})
				checkHits(t, kind+" vector", hits, brute(recs, kind, q, "", nil)[:10])
			}
		}
	}
}

func checkHits(t *testing.T, what string, got []Hit, want []bruteHit) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d hits, want %d", what, len(got), len(want))
	}
	for i, h := range got {
		if h.Key != want[i].key || h.Rank != i+1 || h.Distance == nil || math.Abs(*h.Distance-want[i].d) > 1e-5*(1+want[i].d) {
			t.Fatalf("%s: hit %d is %s rank %d at %v, want %s at %g", what, i, h.Key, h.Rank, deref(h.Distance), want[i].key, want[i].d)
		}
		if it, err := ParseItem(h.Key); err != nil || h.SeriesUID != it.Series || h.Bin != it.Bin || h.Object != it.Object {
			t.Fatalf("%s: hit %d: record %+v does not match its key (%v)", what, i, h.Record, err)
		}
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// TestApproximateRecall: under HNSW, and under auto once a kind outgrows
// the exact index, the k nearest reach a recall of 0.9 against brute
// force.
func TestApproximateRecall(t *testing.T) {
	recs := fixtureRecords(300, 2)
	for _, cfg := range []Config{{Index: "hnsw"}, {Index: "auto", SmallKind: 100}} {
		l := openFixture(t, cfg, recs)
		kinds, err := l.Kinds(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kinds {
			if k.Kind == "hist-hu-v1" && (k.Index != "hnsw" || k.Vectors != 600 || k.Dim != histDim) {
				t.Errorf("%s: hist-hu-v1 is %+v, want 600 vectors of %d in hnsw", cfg.Index, k, histDim)
			}
		}
		found, total := 0, 0
		for _, r := range ofKind(recs, "hist-hu-v1")[:30] {
			like := ItemOf(&r).String()
			a, err := l.Search(context.Background(), Query{Kind: "hist-hu-v1", Like: like, K: 10})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, h := range brute(recs, "hist-hu-v1", indexed(r.Values), like, nil)[:10] {
				want[h.key] = true
			}
			for _, h := range a.Hits {
				if want[h.Key] {
					found++
				}
			}
			total += 10
		}
		if recall := float64(found) / float64(total); recall < 0.9 {
			t.Errorf("%s: recall@10 %.3f, want at least 0.9", cfg.Index, recall)
		}
	}
}

// TestRange: everything within a distance, nearest first, as brute force.
func TestRange(t *testing.T) {
	recs := fixtureRecords(60, 3)
	l := openFixture(t, Config{Index: "exact"}, recs)
	r := ofKind(recs, "radiomics-v1")[3]
	like := ItemOf(&r).String()
	want := brute(recs, "radiomics-v1", indexed(r.Values), like, nil)
	radius := want[14].d
	hits, _ := all(t, l, Query{Kind: "radiomics-v1", Like: like, Within: &radius, Limit: 4})
	checkHits(t, "within", hits, want[:15])
}

// fixtureFacts answers brute-force filters: the objects-v1 and spectral
// values of each item.
type fixtureFacts struct {
	objects, spectral map[string]records.Record
}

func factsOf(recs []records.Record) fixtureFacts {
	f := fixtureFacts{map[string]records.Record{}, map[string]records.Record{}}
	for _, r := range recs {
		switch r.KindVersion() {
		case "objects-v1":
			f.objects[ItemOf(&r).String()] = r
		case "spectral-v1":
			f.spectral[ItemOf(&r).String()] = r
		}
	}
	return f
}

// rise is the spectral record's enhancement_hu.
func (f fixtureFacts) rise(r *records.Record) (float64, bool) {
	s, ok := f.spectral[ItemOf(r).String()]
	if !ok {
		return 0, false
	}
	hu := s.Values
	return max(0, 1000*float64(hu[1])-1000*float64(hu[0])), true
}

// scanDate is the date TestFilterMatchesBruteForce stores for even scans.
func scanDate(scan string) (string, bool) {
	var n int
	fmt.Sscanf(scan, "scan-%d", &n)
	return fmt.Sprintf("2026-%02d-15", n%12+1), n%2 == 0
}

var filterCases = []struct {
	kind, filter string
	keep         func(f fixtureFacts, r *records.Record) bool
}{
	{"radiomics-v1", "class = 'bone'", func(_ fixtureFacts, r *records.Record) bool { return r.Class == "bone" }},
	{"radiomics-v1", "volume > 500 and class != 'lipid'", func(f fixtureFacts, r *records.Record) bool {
		return f.objects[ItemOf(r).String()].Values[1] > 500 && r.Class != "lipid"
	}},
	{"radiomics-v1", "morph.vol <= 300 or (bin = 1 and not class = 'contrast')", func(_ fixtureFacts, r *records.Record) bool {
		return r.Values[0] <= 300 || r.Bin == 1 && r.Class != "contrast"
	}},
	{"radiomics-v1", "`cm.joint_max|3D, averaged` > 0.5", func(_ fixtureFacts, r *records.Record) bool { return r.Values[3] > 0.5 }},
	{"radiomics-v1", "ih.entropy > -100", func(_ fixtureFacts, r *records.Record) bool { return !math.IsNaN(float64(r.Values[4])) }},
	{"radiomics-v1", "kev_low >= 33", func(_ fixtureFacts, r *records.Record) bool { return r.Bin == 1 }},
	{"radiomics-v1", "enhancement_hu > 200", func(f fixtureFacts, r *records.Record) bool {
		rise, ok := f.rise(r)
		return ok && rise > 200
	}},
	{"hist-hu-v1", "scan_date >= 2026-06-01 and description ~ 'PHANTOM 1'", func(_ fixtureFacts, r *records.Record) bool {
		d, ok := scanDate(r.ScanID)
		return ok && d >= "2026-06-01" && strings.HasPrefix(r.ScanID, "scan-01")
	}},
	{"objects-v1", "series = '1.2.826.3.1' or object >= 3 and slice = -1", func(_ fixtureFacts, r *records.Record) bool {
		return r.SeriesUID == "1.2.826.3.1" || r.Object >= 3
	}},
	{"", "class = 'bone'", func(_ fixtureFacts, r *records.Record) bool { return r.Class == "bone" }},
	{"", "", func(_ fixtureFacts, r *records.Record) bool { return true }},
}

// TestFilterMatchesBruteForce: a filter alone counts exactly and lists,
// page by page, the records that evaluating it on every record keeps.
func TestFilterMatchesBruteForce(t *testing.T) {
	recs := fixtureRecords(40, 4)
	l := openFixture(t, Config{Index: "exact"}, recs)
	putFixtureScans(t, l, recs)
	f := factsOf(recs)
	for _, c := range filterCases {
		var want []string
		for _, r := range recs {
			if (c.kind == "" || r.KindVersion() == c.kind) && c.keep(f, &r) {
				want = append(want, r.KindVersion()+" "+ItemOf(&r).String())
			}
		}
		hits, first := all(t, l, Query{Kind: c.kind, Filter: c.filter, Limit: 9})
		var got []string
		for _, h := range hits {
			got = append(got, h.Kind+" "+h.Key)
		}
		slices.Sort(got)
		slices.Sort(want)
		if first.Total == nil || *first.Total != len(want) || !slices.Equal(got, want) || first.Index != "sqlite" {
			t.Errorf("%s %q: total %v, %d hits by %s, want %d:\ngot  %.200v\nwant %.200v", c.kind, c.filter, first.Total, len(got), first.Index, len(want), got, want)
		}
		if len(want) == 0 {
			t.Errorf("%q keeps nothing: a weak case", c.filter)
		}
	}
}

func putFixtureScans(t *testing.T, l *Library, recs []records.Record) {
	for _, r := range recs {
		if d, ok := scanDate(r.ScanID); ok {
			sc := Scan{ID: r.ScanID, ScanDate: d, Description: "Phantom " + strings.TrimPrefix(r.ScanID, "scan-0")}
			if err := l.PutScan(context.Background(), sc); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestFilterWithSimilarity: the k nearest among the records a filter
// keeps, measured one by one or searched in the index, are the brute
// force ones.
func TestFilterWithSimilarity(t *testing.T) {
	recs := fixtureRecords(60, 5)
	f := factsOf(recs)
	for _, scanMax := range []int{2000, 0} {
		l := openFixture(t, Config{Index: "exact"}, recs)
		l.scanMax = scanMax
		for _, c := range filterCases[:7] {
			r := ofKind(recs, c.kind)[0]
			like := ItemOf(&r).String()
			hits, a := all(t, l, Query{Kind: c.kind, Like: like, K: 12, Filter: c.filter})
			want := brute(recs, c.kind, indexed(r.Values), like, func(r *records.Record) bool { return c.keep(f, r) })
			checkHits(t, fmt.Sprintf("%q (scan up to %d)", c.filter, scanMax), hits, want[:min(12, len(want))])
			wantIndex := map[int]string{2000: "exact-scan+sqlite", 0: "exact+sqlite"}[scanMax]
			if a.Index != wantIndex {
				t.Errorf("%q: served by %s, want %s", c.filter, a.Index, wantIndex)
			}
			if len(want) > 5 { // and everything within the 5th one's distance
				radius := want[4].d
				hits, _ = all(t, l, Query{Kind: c.kind, Like: like, Within: &radius, Filter: c.filter, Limit: 3})
				n := 0
				for n < len(want) && want[n].d <= radius {
					n++
				}
				checkHits(t, fmt.Sprintf("%q within %g (scan up to %d)", c.filter, radius, scanMax), hits, want[:n])
			}
		}
	}
}

// TestIcons: a query by icons returns the virtual images whose SIM_deg
// reaches the threshold, highest first, as evaluating it on every image.
func TestIcons(t *testing.T) {
	recs := fixtureRecords(80, 6)
	l := openFixture(t, Config{}, recs)
	q := &sp.Query{
		Mandatory: []sp.QueryObject{{Name: "A", Class: "bone"}},
		Optional:  []sp.QueryObject{{Name: "B", Class: "contrast"}},
		Relations: [][]sp.QueryTriple{{{A: "A", Rel: sp.Before, B: "B"}}, {{A: "A", Rel: sp.Overlaps, B: "B"}}, {}},
		Threshold: 0.4,
	}
	type want struct {
		key string
		sim float64
	}
	var wants []want
	for _, r := range ofKind(recs, sp.KindVolume) {
		var vi sp.VirtualImage
		if err := jsonUnmarshal(r.Data, &vi); err != nil {
			t.Fatal(err)
		}
		m, err := q.Eval(&vi)
		if err != nil {
			t.Fatal(err)
		}
		if m.Retrieved {
			wants = append(wants, want{ItemOf(&r).String(), m.Sim})
		}
	}
	slices.SortFunc(wants, func(a, b want) int { return cmp.Or(cmp.Compare(b.sim, a.sim), cmp.Compare(a.key, b.key)) })
	hits, a := all(t, l, Query{Icons: q, Limit: 5})
	if a.Index != "spatial" || a.Kind != sp.KindVolume || len(hits) != len(wants) || len(wants) < 3 {
		t.Fatalf("served by %s for %s: %d hits, want %d (at least 3) from spatial", a.Index, a.Kind, len(hits), len(wants))
	}
	for i, h := range hits {
		if h.Key != wants[i].key || h.Sim == nil || math.Abs(*h.Sim-wants[i].sim) > 1e-12 {
			t.Fatalf("hit %d: %s at %v, want %s at %g", i, h.Key, deref(h.Sim), wants[i].key, wants[i].sim)
		}
	}
}

// TestExplain: a hit names the features that differ least and most from
// the query's, in order.
func TestExplain(t *testing.T) {
	recs := fixtureRecords(20, 7)
	l := openFixture(t, Config{}, recs)
	r := ofKind(recs, "radiomics-v1")[0]
	a, err := l.Search(context.Background(), Query{Kind: "radiomics-v1", Like: ItemOf(&r).String(), K: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Hits[0]
	var hv []float32
	for _, o := range recs {
		if o.KindVersion() == "radiomics-v1" && ItemOf(&o).String() == h.Key {
			hv = indexed(o.Values)
		}
	}
	q := indexed(r.Values)
	order := make([]int, len(radNames))
	for i := range order {
		order[i] = i
	}
	diff := func(i int) float64 { return math.Abs(float64(q[i] - hv[i])) }
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(diff(a), diff(b)) })
	e := h.Explain
	if e == nil || len(e.Closest) != 3 || len(e.Farthest) != 3 {
		t.Fatalf("explanation %+v, want 3 closest and 3 farthest", e)
	}
	for j := range 3 {
		c, f := order[j], order[len(order)-1-j]
		if e.Closest[j].Feature != radNames[c] || e.Farthest[j].Feature != radNames[f] || e.Closest[j].Hit != hv[c] || e.Farthest[j].Query != q[f] {
			t.Errorf("explanation %+v, want closest %s, farthest %s at %d", e, radNames[c], radNames[f], j)
		}
	}
}

// TestBadQueries: each wrong query is ErrQuery or ErrNotFound, naming what
// is wrong, and the library keeps answering.
func TestBadQueries(t *testing.T) {
	recs := fixtureRecords(10, 8)
	l := openFixture(t, Config{}, recs)
	other, err := l.Search(context.Background(), Query{Filter: "class = 'bone'", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	huge := 1e6
	for _, c := range []struct {
		q    Query
		want error
		msg  string
	}{
		{Query{Filter: "foo > 1"}, ErrQuery, `unknown field "foo"`},
		{Query{Filter: "morph.vool > 1"}, ErrQuery, `did you mean "morph.vol"`},
		{Query{Filter: "clas = 'bone'"}, ErrQuery, `did you mean "class"`},
		{Query{Filter: "class => 'x'"}, ErrQuery, `unknown operator "=>"`},
		{Query{Filter: "class = bone"}, ErrQuery, "quote the value"},
		{Query{Filter: "volume ~ 'x'"}, ErrQuery, "operator ~"},
		{Query{Filter: "(class = 'bone'"}, ErrQuery, "want ) to close"},
		{Query{Filter: "class = 'bone' and"}, ErrQuery, "want a field name"},
		{Query{Filter: "study_date > 2026"}, ErrQuery, "study_date is a date"},
		{Query{Filter: "scan_date >= 2026-02-30"}, ErrQuery, `"2026-02-30" is no day of the calendar`},
		{Query{Filter: "bin = 1.5"}, ErrQuery, "bin is an integer"},
		{Query{Filter: "class = 'bone"}, ErrQuery, "not closed"},
		{Query{Kind: "hist-hu-v1", Vector: []float32{1, 2}}, ErrQuery, "vector has 2 values, kind hist-hu-v1 has 16"},
		{Query{Kind: "hist-hu-v1", Like: "1.2.826.1.1", K: MaxK + 1}, ErrQuery, "k: 1001"},
		{Query{Kind: "hist-hu-v1", Like: "1.2.826.1.1", K: -1}, ErrQuery, "k: -1"},
		{Query{Kind: "hist-hu-v1", Like: "1.2.826.1.1", Limit: 5000}, ErrQuery, "limit: 5000"},
		{Query{Kind: "hist-hu-v1", Like: "1.2.826.1.1", K: 3, Within: &huge}, ErrQuery, "k and within"},
		{Query{Like: "1.2.826.1.1"}, ErrQuery, "kind is required"},
		{Query{Kind: "hist-hu-v1", Like: "1.2.x"}, ErrQuery, `"1.2.x" is not a series UID`},
		{Query{Kind: "hist-hu-v1", Like: "1.2.826.1.1/q3"}, ErrQuery, `part "q3"`},
		{Query{Kind: "hist-hu-v1", Like: "9.9.9"}, ErrNotFound, "no hist-hu-v1 vector of item 9.9.9"},
		{Query{Kind: "nope-v1", Like: "9.9.9"}, ErrNotFound, `kind "nope-v1"`},
		{Query{Filter: "class = 'bone'", Cursor: "garbage"}, ErrQuery, "cursor"},
		{Query{Filter: "class = 'lipid'", Cursor: other.Next}, ErrQuery, "cursor belongs to another query"},
		{Query{Icons: &sp.Query{}}, ErrQuery, "icons"},
	} {
		_, err := l.Search(context.Background(), c.q)
		if !errors.Is(err, c.want) || !strings.Contains(fmt.Sprint(err), c.msg) {
			t.Errorf("%+v: error %v, want %v naming %q", c.q, err, c.want, c.msg)
		}
	}
	if _, err := l.Search(context.Background(), Query{Kind: "hist-hu-v1", Like: "1.2.826.1.1"}); err != nil {
		t.Errorf("after the bad queries: %v", err)
	}
}

// TestAddRefuses: a record of another dimension than its kind's is kept
// for filters without its vector, and a virtual image that does not decode
// is left out, each with an error naming it; the rest of the batch is
// added. Before, the first was left out too: a job of other bins lost its
// spectral-v1 records to filters, with only a line in the log.
func TestAddRefuses(t *testing.T) {
	recs := fixtureRecords(5, 9)
	l := openFixture(t, Config{}, recs)
	bad := ofKind(recs, "hist-hu-v1")[0]
	bad.SeriesUID, bad.Values = "7.7.7", bad.Values[:3]
	img := ofKind(recs, sp.KindVolume)[0]
	img.SeriesUID, img.Data = "7.7.8", []byte(`{"axes": 9}`)
	good := ofKind(recs, "hist-hu-v1")[1]
	good.SeriesUID = "7.7.9"
	err := l.Add(context.Background(), []records.Record{bad, img, good}, 2)
	if err == nil || !strings.Contains(err.Error(), "hist-hu-v1 of 7.7.7: kept for filters, not for similarity") || !strings.Contains(err.Error(), "vimage-xyz-v1 of 7.7.8") {
		t.Errorf("error %v, want one naming hist-hu-v1 of 7.7.7 kept for filters and vimage-xyz-v1 of 7.7.8", err)
	}
	a, err := l.Search(context.Background(), Query{Filter: "series = '7.7.9' or series = '7.7.7' or series = '7.7.8'"})
	if err != nil || *a.Total != 2 || a.Hits[0].Key != "7.7.7" || a.Hits[1].Key != "7.7.9/b1" {
		t.Errorf("after the batch: %+v, %v; want 7.7.7 and 7.7.9", a, err)
	}
	if _, err := l.Search(context.Background(), Query{Kind: "hist-hu-v1", Like: "7.7.7"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("like the record kept without its vector: %v, want ErrNotFound", err)
	}
}

// TestAddBatchOfTwoLengths: a new kind's first batch with vectors of two
// lengths keeps the first length, and the records of the other without
// their vectors, so that moving the kind to HNSW, which reads the stored
// vectors, does not fail on them.
func TestAddBatchOfTwoLengths(t *testing.T) {
	hist := ofKind(fixtureRecords(5, 10), "hist-hu-v1")
	short := hist[1]
	short.Values = short.Values[:3]
	batch := append([]records.Record{hist[0], short}, hist[2:]...)
	l, err := Open(context.Background(), Config{Dir: t.TempDir(), Index: "auto", SmallKind: 3, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = l.Add(context.Background(), batch, 1)
	if err == nil || !strings.Contains(err.Error(), "kept for filters") || strings.Contains(err.Error(), "HNSW") {
		t.Errorf("error %v, want the short vector kept for filters alone", err)
	}
	kinds, _ := l.Kinds(context.Background())
	if len(kinds) != 1 || kinds[0].Index != "hnsw" || kinds[0].Records != len(batch) || kinds[0].Vectors != len(batch)-1 {
		t.Errorf("kinds %+v, want %d records in HNSW, %d with vectors", kinds, len(batch), len(batch)-1)
	}
}

// TestLikeFindsTheBin: an item key without its bin finds the series' only
// bin, as a series of ctrecon's output is one bin's; with two bins under
// one series it stays bin 0.
func TestLikeFindsTheBin(t *testing.T) {
	recs := fixtureRecords(5, 15)
	orig := ofKind(recs, "hist-hu-v1")[1] // bin 1 of scan 0
	r := orig
	r.SeriesUID = "3.3.3"
	l := openFixture(t, Config{}, append(recs, r))
	a, err := l.Search(context.Background(), Query{Kind: "hist-hu-v1", Like: "3.3.3", K: 3})
	if err != nil || len(a.Hits) != 3 {
		t.Fatalf("like 3.3.3: %+v, %v", a, err)
	}
	if a.Hits[0].Key != ItemOf(&orig).String() || *a.Hits[0].Distance != 0 {
		t.Errorf("like 3.3.3: nearest %s at %v, want the record it copies at 0", a.Hits[0].Key, *a.Hits[0].Distance)
	}
	if _, err := l.Search(context.Background(), Query{Kind: "hist-hu-v1", Like: "1.2.826.1.1", K: 3}); err != nil {
		t.Errorf("like a series of two bins: %v, want bin 0's", err)
	}
}

// TestUnknownKind: a filter on a kind the library does not hold is
// ErrNotFound naming it (a typo, not an empty cohort), before and after a
// restart from a snapshot.
func TestUnknownKind(t *testing.T) {
	dir := t.TempDir()
	l := openFixture(t, Config{Dir: dir}, fixtureRecords(3, 16))
	for _, q := range []Query{{Kind: "radiomics", Filter: "bin = 0"}, {Kind: "radiomics-v1", Filter: "bin = 0"}} {
		_, err := l.Search(context.Background(), q)
		if (q.Kind == "radiomics") != errors.Is(err, ErrNotFound) {
			t.Errorf("kind %q: %v", q.Kind, err)
		}
	}
	if err := l.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2, err := Open(context.Background(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if _, err := l2.Search(context.Background(), Query{Kind: "radiomics-v1", Filter: "bin = 0"}); err != nil {
		t.Errorf("after the restart: %v", err)
	}
}
