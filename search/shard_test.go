package search

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/features/records"
	sp "github.com/ctrecon/ctrecon/features/spatial"
	"github.com/ctrecon/ctrecon/internal/bustest"
)

func TestParseShard(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Shard
		err  string
	}{
		{"0/2", Shard{0, 2}, ""},
		{"3/4", Shard{3, 4}, ""},
		{"0/1", Shard{0, 1}, ""},
		{"2/2", Shard{}, "want I/N"},
		{"-1/2", Shard{}, "want I/N"},
		{"0/0", Shard{}, "want I/N"},
		{"0/5000", Shard{}, "N from 1 to 1024"},
		{"1", Shard{}, "want I/N"},
		{"a/2", Shard{}, "want I/N"},
	} {
		got, err := ParseShard(c.in)
		if c.err == "" && (err != nil || got != c.want) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, an error naming %q", c.in, got, err, c.want, c.err)
		}
	}
}

// ShardOf spreads series over the shards about evenly, and is the same
// for a series whatever its records.
func TestShardOfSpreads(t *testing.T) {
	const n, series = 4, 4000
	counts := make([]int, n)
	for i := range series {
		counts[ShardOf(fmt.Sprintf("1.2.826.0.1.%d.1", i), n)]++
	}
	for i, c := range counts {
		if c < series/n*8/10 || c > series/n*12/10 {
			t.Errorf("shard %d of %d owns %d of %d series: %v", i, n, c, series, counts)
		}
	}
}

// tiedRecords are HU histograms of six series with the same vector, so
// that a query for it meets ties across shards.
func tiedRecords() (recs []records.Record, vec []float32) {
	vec = make([]float32, histDim)
	for i := range vec {
		vec[i] = 0.25
	}
	for s := range 6 {
		r := records.Record{StudyUID: "1.2.999", SeriesUID: fmt.Sprintf("1.2.999.%d", s), Slice: -1, Settings: "0123456789abcdef"}
		recs = append(recs, withKind(r, "hist-hu", slices.Clone(vec), nil))
	}
	return recs, vec
}

// followed opens a library of shard sh (the whole library when zero) and
// follows b's FEATURES stream into it through sequence last.
func followed(t *testing.T, b *bus.Bus, sh Shard, last uint64) *Library {
	t.Helper()
	l, err := Open(context.Background(), Config{Dir: t.TempDir(), Shard: sh, Names: map[string][]string{"radiomics-v1": radNames},
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	follow(t, l, b)
	waitSeq(t, l, last)
	return l
}

// pages returns every page of q's answer from s.
func pages(t *testing.T, s Searcher, q Query) []*Answer {
	t.Helper()
	var out []*Answer
	for range 1000 {
		a, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		out = append(out, a)
		if a.Next == "" {
			return out
		}
		q.Cursor = a.Next
	}
	t.Fatalf("%+v: paging did not end", q)
	return nil
}

// TestShardsAnswerAsOne: two shards, each following the FEATURES stream of
// a real NATS server and keeping its series, served as NATS micro
// services, answer through the fan-out (any shard's SubjectQuery) as one
// library of every record does: the k nearest (ties included), ranges,
// icons and filters with similarity hit for hit and page for page; a
// filter alone with the same total on every page and the same records over
// its pages. Bad queries are the same errors; with a shard gone the
// fan-out says which, rather than answer half.
func TestShardsAnswerAsOne(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	recs := fixtureRecords(40, 12)
	tied, tieVec := tiedRecords()
	metric, _ := metricRecords(30, 13)
	recs = append(append(recs, tied...), metric...)
	bustest.PublishRecords(t, b, recs)
	last := uint64(len(recs))
	whole := followed(t, b, Shard{}, last)
	var shards []*Library
	var svcs []micro.Service
	var conns []*nats.Conn
	for i := range 2 {
		l := followed(t, b, Shard{i, 2}, last)
		conns = append(conns, bustest.Connect(t, srv.ClientURL(), bus.Config{}).Conn())
		svc, err := l.ServeNATS(conns[i], slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Stop() })
		shards, svcs = append(shards, l), append(svcs, svc)
	}
	checkSplit(t, whole, shards)
	owners := map[int]bool{}
	for _, r := range tied {
		owners[ShardOf(r.SeriesUID, 2)] = true
	}
	if len(owners) != 2 || ShardOf(metric[0].SeriesUID, 2) == ShardOf(metric[1].SeriesUID, 2) {
		t.Fatalf("the tied series, or the metric histograms asked by example, all land in one shard: a weak case")
	}

	fan := NATSClient{Conn: b.Conn()}
	checkKinds(t, whole, fan)
	rad, hist := ofKind(recs, "radiomics-v1"), ofKind(recs, "hist-hu-v1")
	within := 5.0
	ranked := []Query{
		{Kind: "radiomics-v1", Like: ItemOf(&rad[0]).String(), K: 7, Limit: 3},
		{Kind: "radiomics-v1", Like: ItemOf(&rad[5]).String(), K: 12, Limit: 5, Filter: "class = 'bone'"},
		{Kind: "hist-hu-v1", Like: ItemOf(&hist[3]).String(), Limit: 4},
		{Kind: "hist-hu-v1", Vector: tieVec, K: 9, Limit: 2},
		{Kind: "hist-hu-v1", Vector: indexed(hist[7].Values), Within: &within, Limit: 7},
		// The owner's metric histogram goes to the other shard as (HU,
		// density) pairs; before, as the index's vector, which that shard
		// refused, and its hits were left out.
		{Kind: histogram.KindMetric, Like: ItemOf(&metric[0]).String(), K: 9, Limit: 4},
		{Kind: histogram.KindMetric, Like: ItemOf(&metric[1]).String(), K: 9, Limit: 4},
		{Icons: &sp.Query{Mandatory: []sp.QueryObject{{Name: "A", Class: "bone"}}, Optional: []sp.QueryObject{{Name: "B", Class: "contrast"}},
			Relations: [][]sp.QueryTriple{{{A: "A", Rel: sp.Before, B: "B"}}, {}, {}}, Threshold: 0.4}, Limit: 5},
	}
	for _, q := range ranked {
		want, got := pages(t, whole, q), pages(t, fan, q)
		if len(want) < 2 && q.Within == nil {
			t.Errorf("%+v: one page: a weak case", q)
		}
		if len(got) != len(want) {
			t.Errorf("%+v: %d pages through the shards, want %d", q, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i].Hits, want[i].Hits) {
				t.Errorf("%+v page %d through the shards:\n%s\nwant\n%s", q, i, hitList(got[i].Hits), hitList(want[i].Hits))
			}
			if got[i].Index != want[i].Index || got[i].Kind != want[i].Kind || len(got[i].Shards) != 2 {
				t.Errorf("%+v page %d: served by %s for %s, shards %+v; want %s for %s and both shards", q, i, got[i].Index, got[i].Kind, got[i].Shards, want[i].Index, want[i].Kind)
			}
		}
	}
	if n, _ := all(t, whole, ranked[4]); len(n) < 15 {
		t.Errorf("the range holds %d hits: a weak case", len(n))
	}

	for _, q := range []Query{
		{Filter: "class = 'bone'", Limit: 9},
		{Kind: "radiomics-v1", Filter: "morph.vol > 500", Limit: 4},
		{Kind: "hist-hu-v1", Filter: "bin = 1", Limit: 15},
	} {
		checkCohort(t, q, pages(t, whole, q), pages(t, fan, q))
	}

	other, err := fan.Search(context.Background(), Query{Filter: "class = 'lipid'", Limit: 1})
	if err != nil || other.Next == "" {
		t.Fatalf("%v, %+v: want a next page", err, other)
	}
	for _, q := range []Query{
		{Filter: "class = 'bone'", Cursor: other.Next},
		{Filter: "colour = 'red'"},
		{Kind: "nothing-v1", Filter: "bin = 0"},
		{Kind: "hist-hu-v1", Like: "1.2.3.4.5"},
		{Kind: "hist-hu-v1", Vector: []float32{1, 2}},
		{Kind: "hist-hu-v1", Vector: tieVec, Cursor: "garbage"},
	} {
		_, werr := whole.Search(context.Background(), q)
		_, err := fan.Search(context.Background(), q)
		var se *ServiceError
		if werr == nil || !errors.As(err, &se) || !strings.Contains(werr.Error(), se.Message) || !sameClass(werr, err) {
			t.Errorf("%+v through the shards: %v; want the library's %v", q, err, werr)
		}
	}

	// A shard's HTTP API searches every shard, as the OpenAPI file says.
	api := newAPI(t, shards[0], HTTPOptions{Searcher: &Fanout{Conn: b.Conn(), Shards: 2}})
	for _, q := range []Query{ranked[0], {Filter: "class = 'bone'", Limit: 9}} {
		want, err := whole.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		got := api.answer("POST", "/search", q)
		if len(got.Hits) != len(want.Hits) || (got.Total == nil) != (want.Total == nil) || got.Total != nil && *got.Total != *want.Total || len(got.Shards) != 2 || q.Filter == "" && !reflect.DeepEqual(got.Hits, want.Hits) {
			t.Errorf("POST /search %+v on shard 0/2's API: %+v, want the library's %+v", q, got, want)
		}
	}

	svcs[1].Stop()
	if err := conns[1].Flush(); err != nil { // the server has dropped its subscriptions
		t.Fatal(err)
	}
	_, err = fan.Search(context.Background(), ranked[0])
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "shard 1/2 did not answer") {
		t.Errorf("with shard 1/2 gone: %v, want a 503 naming it", err)
	}
}

// checkSplit checks that each shard holds the records of the series it
// owns and the shards together hold the whole library's.
func checkSplit(t *testing.T, whole *Library, shards []*Library) {
	t.Helper()
	wk, err := whole.Kinds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sum := map[string]int{}
	for i, l := range shards {
		hits, _ := all(t, l, Query{Filter: "bin >= 0", Limit: MaxLimit})
		if len(hits) == 0 {
			t.Errorf("shard %d holds nothing", i)
		}
		for _, h := range hits {
			if ShardOf(h.SeriesUID, len(shards)) != i {
				t.Fatalf("shard %d holds %s of series %s, another shard's", i, h.Key, h.SeriesUID)
			}
			sum[h.Kind]++
		}
	}
	for _, k := range wk {
		if sum[k.Kind] != k.Records {
			t.Errorf("the shards hold %d records of %s, the library %d", sum[k.Kind], k.Kind, k.Records)
		}
	}
}

// checkCohort checks that a filter's pages through the shards have the
// library's total on each page, its page sizes, and over all pages its
// records, each once.
func checkCohort(t *testing.T, q Query, want, got []*Answer) {
	t.Helper()
	if len(want) < 2 {
		t.Errorf("%+v: one page: a weak case", q)
	}
	keys := func(as []*Answer) (out []string) {
		for _, a := range as {
			for _, h := range a.Hits {
				out = append(out, fmt.Sprintf("%d %s %s %+v", h.Rank, h.Kind, h.Key, h.Record))
			}
		}
		return out
	}
	if len(got) != len(want) {
		t.Errorf("%+v: %d pages through the shards, want %d", q, len(got), len(want))
		return
	}
	for i := range got {
		if *got[i].Total != *want[i].Total || len(got[i].Hits) != len(want[i].Hits) || got[i].Index != "sqlite" {
			t.Errorf("%+v page %d: %d hits of %d by %s, want %d of %d by sqlite", q, i, len(got[i].Hits), *got[i].Total, got[i].Index, len(want[i].Hits), *want[i].Total)
		}
	}
	g, w := keys(got), keys(want)
	strip := func(s []string) []string { // ranks aside: the order differs, the ranks run on
		out := make([]string, len(s))
		for i, k := range s {
			out[i] = k[strings.IndexByte(k, ' ')+1:]
			if !strings.HasPrefix(k, fmt.Sprint(i+1)+" ") {
				t.Errorf("%+v: hit %d ranked %s", q, i, k)
			}
		}
		slices.Sort(out)
		return out
	}
	if gs, ws := strip(g), strip(w); !slices.Equal(gs, ws) || len(slices.Compact(slices.Clone(gs))) != len(gs) {
		t.Errorf("%+v: the shards list %d records, want the library's %d, each once", q, len(gs), len(ws))
	}
}

func hitList(hits []Hit) string {
	var b strings.Builder
	for _, h := range hits {
		fmt.Fprintf(&b, "  %d %s %v %v\n", h.Rank, h.Key, deref(h.Distance), deref(h.Sim))
	}
	return b.String()
}

// sameClass reports whether both errors are bad queries or both unknown
// things.
func sameClass(a, b error) bool {
	return errors.Is(a, ErrQuery) == errors.Is(b, ErrQuery) && errors.Is(a, ErrNotFound) == errors.Is(b, ErrNotFound)
}

// A shard's snapshot says which shard it holds: opening it as another
// shard, or as the whole library, is an error naming both, rather than a
// library that silently holds the wrong series.
func TestShardSnapshotRefusesOtherShard(t *testing.T) {
	dir := t.TempDir()
	l := openFixture(t, Config{Dir: dir, Shard: Shard{0, 2}}, fixtureRecords(2, 1))
	if err := l.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for _, c := range []struct {
		sh   Shard
		want string
	}{
		{Shard{1, 2}, "holds shard 0/2, not shard 1/2"},
		{Shard{}, "holds shard 0/2, not the whole library"},
		{Shard{0, 3}, "holds shard 0/2, not shard 0/3"},
	} {
		l, err := Open(context.Background(), Config{Dir: dir, Shard: c.sh})
		if err == nil {
			l.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("opening shard 0/2's snapshot as %q: %v, want an error naming %q", c.sh, err, c.want)
		}
	}
	l, err := Open(context.Background(), Config{Dir: dir, Shard: Shard{0, 2}})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// checkKinds checks that the kinds through the shards are the library's:
// records and vectors summed, the same index, dimension and names.
func checkKinds(t *testing.T, whole *Library, fan NATSClient) {
	t.Helper()
	want, err := whole.Kinds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := fan.Kinds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ks := range [][]KindInfo{want, got} {
		for i := range ks {
			slices.Sort(ks[i].Names)
			if len(ks[i].Names) == 0 { // none: JSON leaves them out
				ks[i].Names = nil
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kinds through the shards:\n%+v\nwant\n%+v", got, want)
	}
}

// TestReplicaSilentRetried: a replica that takes a query and never
// answers (one killed while it held it) costs that query a try, not its
// answer: the client asks again and another replica answers. With no
// replica at all, the client gives up after its tries, naming them.
func TestReplicaSilentRetried(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	recs := fixtureRecords(10, 3)
	lib := openFixture(t, Config{}, recs)
	svcConn := bustest.Connect(t, srv.ClientURL(), bus.Config{}).Conn()
	svc, err := lib.ServeNATS(svcConn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	silent := bustest.Connect(t, srv.ClientURL(), bus.Config{}).Conn()
	var swallowed atomic.Int32
	sub, err := silent.QueueSubscribe(SubjectQuery, QueueGroup, func(*nats.Msg) { swallowed.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.AutoUnsubscribe(1); err != nil {
		t.Fatal(err)
	}
	if err := silent.Flush(); err != nil {
		t.Fatal(err)
	}
	c := NATSClient{Conn: b.Conn(), Retry: Retry{Attempts: 3, Timeout: time.Second}}
	hist := ofKind(recs, "hist-hu-v1")
	for i := 0; swallowed.Load() == 0; i++ {
		if i == 200 {
			t.Fatal("the silent replica took none of 200 queries")
		}
		q := Query{Kind: "hist-hu-v1", Like: ItemOf(&hist[i%len(hist)]).String(), K: 3}
		got, err := c.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		want, err := lib.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if !sameHits(got, want) {
			t.Fatalf("query %d: %+v, want %+v", i, got.Hits, want.Hits)
		}
	}
	svc.Stop()
	// Stop sends the unsubscriptions; a round trip on the same connection
	// makes sure the server has taken them before the next query, which
	// travels on another connection.
	if err := svcConn.Flush(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Search(context.Background(), Query{Filter: "bin = 0"})
	if err == nil || !strings.Contains(err.Error(), "3 tries") || !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("with no replica: %v, want no responders after 3 tries", err)
	}
}

// TestShardsUnderConcurrentQueries: more queries at once than a process
// answers at once (natsConcurrent), each waiting in a shard's front for
// the shards, are all answered within one try: the shards' own endpoints
// are never starved by the fronts waiting on them.
func TestShardsUnderConcurrentQueries(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	recs := fixtureRecords(10, 5)
	bustest.PublishRecords(t, b, recs)
	whole := followed(t, b, Shard{}, uint64(len(recs)))
	for i := range 2 {
		l := followed(t, b, Shard{i, 2}, uint64(len(recs)))
		svc, err := l.ServeNATS(bustest.Connect(t, srv.ClientURL(), bus.Config{}).Conn(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Stop() })
	}
	q := Query{Kind: "hist-hu-v1", Vector: indexed(ofKind(recs, "hist-hu-v1")[0].Values), K: 5}
	want, err := whole.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	c := NATSClient{Conn: b.Conn(), Retry: Retry{Attempts: 1, Timeout: 20 * time.Second}}
	var wg sync.WaitGroup
	for range 4 * natsConcurrent {
		wg.Go(func() {
			got, err := c.Search(context.Background(), q)
			if err != nil || !sameHits(got, want) {
				t.Errorf("%v, %+v; want %+v", err, got, want)
			}
		})
	}
	wg.Wait()
}
