package search

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	sp "github.com/ctrecon/ctrecon/features/spatial"
	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/spatial"
)

// Errors of Search: ErrQuery for a query that is wrong (a 400 over HTTP),
// ErrNotFound for an item or kind the library does not hold (a 404). The
// message names the field.
var (
	ErrQuery    = errors.New("invalid query")
	ErrNotFound = errors.New("not found")
)

// Limits of a query.
const (
	MaxK         = 1000   // the most neighbours a k-NN query asks for
	DefaultK     = 10     // k when a similarity query gives none
	MaxLimit     = 1000   // the largest page
	DefaultLimit = 20     // a page when the query gives no limit
	MaxRange     = 100000 // the most hits a range query returns over all its pages
	explainN     = 3      // features named in each half of an explanation
)

// Query is one search. Exactly one of Like, Vector and Icons asks for
// similarity; with none, Filter alone selects records (cohort discovery)
// and Total counts them exactly.
type Query struct {
	// Kind is the feature kind with its version ("radiomics-v1"): required
	// for similarity; a filter-only query without it counts every kind.
	Kind string `json:"kind,omitempty"`
	// Like is an indexed item's key (Item.String): its vector of Kind is
	// the query, and it is left out of the hits.
	Like string `json:"like,omitempty"`
	// Vector is the query vector, of the kind's dimension.
	Vector []float32 `json:"vector,omitempty"`
	// K is how many nearest to return (1 to MaxK; DefaultK when 0),
	// unless Within is given.
	K int `json:"k,omitempty"`
	// Within, if set, asks for every vector within this distance instead
	// of the K nearest.
	Within *float64 `json:"within,omitempty"`
	// Filter keeps the records it selects (see the filter language).
	Filter string `json:"filter,omitempty"`
	// Icons is a query by icons: a virtual image with its relations and a
	// threshold on SIM_deg; Kind is then a virtual image kind: the
	// volumes' (vimage-xyz-v1, the default; relations on x and y only
	// leave z free) or the slices' (vimage-xy-v1).
	Icons *sp.Query `json:"icons,omitempty"`
	// Limit is the page size (1 to MaxLimit; DefaultLimit when 0).
	Limit int `json:"limit,omitempty"`
	// Cursor is an answer's Next: the page after it.
	Cursor string `json:"cursor,omitempty"`
}

// Answer is one page of a query's hits.
type Answer struct {
	Kind string `json:"kind,omitempty"`
	// Index says what served the query: the vector index's kind (exact,
	// hnsw), "exact-scan" for a similarity query over the few records its
	// filter kept, "spatial" for icons, "sqlite" for filters alone; a
	// filter combined with similarity adds "+sqlite".
	Index string `json:"index"`
	// TookMS is how long the query took, in milliseconds.
	TookMS float64 `json:"took_ms"`
	// Total is the exact number of records a filter-only query selects.
	Total *int  `json:"total,omitempty"`
	Hits  []Hit `json:"hits"`
	// Next is the cursor of the next page, empty on the last.
	Next string `json:"next,omitempty"`
	// Shards says, for an answer merged from a library's shards (Fanout),
	// what each shard's answer said.
	Shards []ShardServed `json:"shards,omitempty"`
}

// Hit is one record an answer returns.
type Hit struct {
	Rank int `json:"rank"`
	Record
	// Distance is the Euclidean distance to the query vector.
	Distance *float64 `json:"distance,omitempty"`
	// Sim is SIM_deg for a query by icons.
	Sim *float64 `json:"sim,omitempty"`
	// Explain names the features that differ least and most from the
	// query's, for kinds with named features.
	Explain *Explanation `json:"explain,omitempty"`
}

// Explanation of a similarity hit.
type Explanation struct {
	Closest  []Difference `json:"closest"`
	Farthest []Difference `json:"farthest"`
}

// Difference is one feature's value in the query and in the hit.
type Difference struct {
	Feature string  `json:"feature"`
	Query   float32 `json:"query"`
	Hit     float32 `json:"hit"`
}

// cursor is what an answer's Next encodes: the query it belongs to (a
// hash) and where the next page starts.
type cursor struct {
	Query  string `json:"q"`
	Offset int    `json:"o,omitempty"`
	After  int64  `json:"a,omitempty"`
}

// Search answers q.
func (l *Library) Search(ctx context.Context, q Query) (*Answer, error) {
	start := time.Now()
	a, err := l.search(ctx, &q)
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	a.TookMS = float64(took.Microseconds()) / 1000
	l.metrics.observe(a.Kind, a.Index, took)
	return a, nil
}

func (l *Library) search(ctx context.Context, q *Query) (*Answer, error) {
	if err := checkQuery(q); err != nil {
		return nil, err
	}
	cur, err := decodeCursor(q)
	if err != nil {
		return nil, err
	}
	filter, err := compileFilter(q.Filter, l.store.resolve)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQuery, err) // "invalid query: filter: column N: ..."
	}
	switch {
	case q.Icons != nil:
		return l.icons(ctx, q, filter, cur)
	case q.Like != "" || q.Vector != nil:
		return l.similar(ctx, q, filter, cur)
	}
	return l.cohort(ctx, q, filter, cur)
}

// checkQuery checks what can be checked before any work, filling in
// defaults.
func checkQuery(q *Query) error {
	asks := 0
	for _, given := range []bool{q.Like != "", q.Vector != nil, q.Icons != nil} {
		if given {
			asks++
		}
	}
	switch {
	case asks > 1:
		return fmt.Errorf("%w: like, vector and icons are exclusive: give one", ErrQuery)
	case q.K < 0 || q.K > MaxK:
		return fmt.Errorf("%w: k: %d, want 1 to %d", ErrQuery, q.K, MaxK)
	case q.Limit < 0 || q.Limit > MaxLimit:
		return fmt.Errorf("%w: limit: %d, want 1 to %d", ErrQuery, q.Limit, MaxLimit)
	case q.Within != nil && !(*q.Within >= 0 && !math.IsInf(*q.Within, 1)):
		return fmt.Errorf("%w: within: %g, want a distance of 0 or more", ErrQuery, *q.Within)
	case q.Within != nil && q.K != 0:
		return fmt.Errorf("%w: k and within are exclusive: give one", ErrQuery)
	case (q.Within != nil || q.K != 0) && asks == 0:
		return fmt.Errorf("%w: k and within ask for similarity: give like or vector too", ErrQuery)
	case (q.Like != "" || q.Vector != nil) && q.Kind == "":
		return fmt.Errorf("%w: kind is required for similarity (GET /search/kinds lists them)", ErrQuery)
	}
	for i, x := range q.Vector {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: vector[%d] is %g, want a finite number", ErrQuery, i, x)
		}
	}
	if q.K == 0 {
		q.K = DefaultK
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	return nil
}

// hash identifies a query's hits, whatever page: every field but Limit
// and Cursor.
func (q *Query) hash() string {
	c := *q
	c.Limit, c.Cursor = 0, ""
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func decodeCursor(q *Query) (cursor, error) {
	if q.Cursor == "" {
		return cursor{Query: q.hash()}, nil
	}
	var c cursor
	err := openCursor(q, &c, &c.Query, func() bool { return c.Offset >= 0 })
	return c, err
}

func (c cursor) encode() string { return sealCursor(c) }

// openCursor decodes q's cursor into c, whose query hash lands in hash,
// and checks that it is one this service gave (valid, once decoded) for
// this query.
func openCursor(q *Query, c any, hash *string, valid func() bool) error {
	b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
	if err == nil {
		err = json.Unmarshal(b, c)
	}
	switch {
	case err != nil || !valid():
		return fmt.Errorf("%w: cursor is not one this service gave", ErrQuery)
	case *hash != q.hash():
		return fmt.Errorf("%w: cursor belongs to another query: repeat the query's other fields unchanged", ErrQuery)
	}
	return nil
}

// sealCursor writes a cursor as an opaque token: base64 of its JSON.
func sealCursor(c any) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cohort answers a filter-only query: an exact count and a page of
// records in storage order.
func (l *Library) cohort(ctx context.Context, q *Query, filter compiled, cur cursor) (*Answer, error) {
	l.mu.RLock()
	known := l.known[q.Kind]
	l.mu.RUnlock()
	if q.Kind != "" && !known { // a typo, and no label for the metrics
		return nil, fmt.Errorf("%w: kind %q has no records (GET /search/kinds lists the kinds)", ErrNotFound, q.Kind)
	}
	n, err := l.store.count(ctx, q.Kind, filter)
	if err != nil {
		return nil, fmt.Errorf("search: counting: %w", err)
	}
	recs, ids, err := l.store.list(ctx, q.Kind, filter, cur.After, q.Limit+1)
	if err != nil {
		return nil, fmt.Errorf("search: listing: %w", err)
	}
	a := &Answer{Kind: q.Kind, Index: "sqlite", Total: &n, Hits: make([]Hit, 0, len(recs))}
	if len(recs) > q.Limit { // one more than the page: there is a next one
		recs = recs[:q.Limit]
		a.Next = cursor{Query: cur.Query, Offset: cur.Offset + q.Limit, After: ids[q.Limit-1]}.encode()
	}
	for i, r := range recs {
		a.Hits = append(a.Hits, Hit{Rank: cur.Offset + i + 1, Record: r})
	}
	return a, nil
}

// similar answers a query by example or by vector.
func (l *Library) similar(ctx context.Context, q *Query, filter compiled, cur cursor) (*Answer, error) {
	vk, err := l.vectorKind(q.Kind)
	if err != nil {
		return nil, err
	}
	vec := q.Vector
	if vec != nil {
		var err error
		if vec, err = vectorOf(q.Kind, vec); err != nil {
			return nil, fmt.Errorf("%w: vector: %w", ErrQuery, err)
		}
	}
	if q.Like != "" {
		key, v, err := l.likeVector(ctx, vk, q.Kind, q.Like)
		if err != nil {
			return nil, err
		}
		q.Like, vec = key, v
	}
	if dim := vk.ix.Dim(); len(vec) != dim {
		return nil, fmt.Errorf("%w: vector has %d values, kind %s has %d", ErrQuery, len(vec), q.Kind, dim)
	}
	a := &Answer{Kind: q.Kind, Index: vk.ix.Kind()}
	hits, err := l.nearest(ctx, a, vk.ix, vec, q, filter)
	if err != nil {
		return nil, err
	}
	if len(hits) > MaxRange {
		hits = hits[:MaxRange]
	}
	return l.page(ctx, a, q, cur, len(hits), func(i int) (string, Hit) {
		d := hits[i].Distance
		return hits[i].Key, Hit{Distance: &d}
	}, func(h *Hit) { h.Explain = explain(vk, vec, h.Key) })
}

// vectorKind returns kind's vector index, ErrNotFound when it has none.
func (l *Library) vectorKind(kind string) (*vectorKind, error) {
	l.mu.RLock()
	vk, ok := l.vectors[kind]
	l.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: kind %q has no vector index (GET /search/kinds lists the kinds)", ErrNotFound, kind)
	}
	return vk, nil
}

// likeVector returns the key and the vector of kind of the item like
// names (ParseItem); a series is one bin's in ctrecon's output, so the bin
// need not be given when the series has one.
func (l *Library) likeVector(ctx context.Context, vk *vectorKind, kind, like string) (string, []float32, error) {
	it, err := ParseItem(like)
	if err != nil {
		return "", nil, fmt.Errorf("%w: like: %w", ErrQuery, err)
	}
	v, _, ok := vk.ix.Get(it.String())
	if !ok && !strings.Contains(like, "/b") {
		if it, ok = l.store.onlyBin(ctx, kind, it); ok {
			v, _, ok = vk.ix.Get(it.String())
		}
	}
	if !ok {
		return "", nil, fmt.Errorf("%w: like: no %s vector of item %s", ErrNotFound, kind, it)
	}
	return it.String(), v, nil
}

// nearest finds q's hits in ix, keeping those filter selects, and says in
// a.Index what served them.
func (l *Library) nearest(ctx context.Context, a *Answer, ix index.Index, vec []float32, q *Query, filter compiled) ([]index.Hit, error) {
	var allowed map[string]bool
	if q.Filter != "" {
		// A selective filter: measuring the few it keeps, read with their
		// vectors, is exact and faster than a graph search that skips
		// most of what it meets.
		var sc scanner
		few, err := l.store.eachVector(ctx, q.Kind, filter, max(l.scanMax, ix.Len()/20), sc.measure(ix.Metric(), vec, q))
		if few {
			a.Index = "exact-scan+sqlite"
			return sc.result(q), nil
		}
		if err == nil {
			allowed, err = l.store.items(ctx, q.Kind, filter)
		}
		if err != nil {
			return nil, fmt.Errorf("search: filtering: %w", err)
		}
		a.Index += "+sqlite"
	}
	accept := func(key string, _ any) bool { return key != q.Like && (allowed == nil || allowed[key]) }
	if q.Within != nil {
		return ix.Range(vec, *q.Within, accept), nil
	}
	return ix.Search(vec, q.K, accept), nil
}

// scanner keeps the nearest of the vectors a filter selects: the K
// nearest (pruned to them whenever 2K are held), or all within q.Within.
type scanner struct {
	hits  []index.Hit
	worst float64 // the K-th distance after a pruning; farther ones are dropped
}

// measure returns the function that measures one record's vector under m,
// the query's own item left out.
func (s *scanner) measure(m index.Metric, vec []float32, q *Query) func(item []byte, v []float32) {
	s.worst = math.Inf(1)
	if q.Within != nil {
		s.worst = *q.Within
	}
	return func(item []byte, v []float32) {
		if len(v) != len(vec) || string(item) == q.Like {
			return
		}
		d := m.Distance(vec, v)
		if d > s.worst {
			return
		}
		s.hits = append(s.hits, index.Hit{Key: string(item), Distance: d})
		if q.Within == nil && len(s.hits) >= 2*q.K {
			s.prune(q.K)
		}
	}
}

// prune keeps the k nearest hits.
func (s *scanner) prune(k int) {
	index.SortHits(s.hits)
	if len(s.hits) > k {
		s.hits, s.worst = s.hits[:k], s.hits[k-1].Distance
	}
}

// result returns the hits in order: the K nearest, or all within.
func (s *scanner) result(q *Query) []index.Hit {
	if q.Within == nil {
		s.prune(q.K)
	}
	index.SortHits(s.hits)
	return s.hits
}

// page fills a with the page of n ranked hits that cur points at: hit(i)
// gives the i-th hit's item and what it says; the records' metadata come
// from the store and decorate, if not nil, adds to each.
func (l *Library) page(ctx context.Context, a *Answer, q *Query, cur cursor, n int, hit func(i int) (string, Hit), decorate func(*Hit)) (*Answer, error) {
	from, to := min(cur.Offset, n), min(cur.Offset+q.Limit, n)
	items := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		key, _ := hit(i)
		items = append(items, key)
	}
	recs, err := l.store.records(ctx, a.Kind, items)
	if err != nil {
		return nil, fmt.Errorf("search: reading hits' records: %w", err)
	}
	a.Hits = make([]Hit, 0, len(items))
	for i := from; i < to; i++ {
		key, h := hit(i)
		h.Rank, h.Record = i+1, recs[key]
		h.Key, h.Kind = key, a.Kind
		if decorate != nil {
			decorate(&h)
		}
		a.Hits = append(a.Hits, h)
	}
	if to < n {
		a.Next = cursor{Query: cur.Query, Offset: to}.encode()
	}
	return a, nil
}

// explain compares the query vector with the hit's, feature by feature,
// for a kind with named features.
func explain(vk *vectorKind, q []float32, key string) *Explanation {
	v, _, ok := vk.ix.Get(key)
	if !ok {
		return nil
	}
	idx := make([]int, 0, len(q))
	for i, n := range vk.names {
		if n != "" {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	diff := func(i int) float64 { return math.Abs(float64(q[i]) - float64(v[i])) }
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(diff(a), diff(b)) })
	n := min(explainN, len(idx))
	e := &Explanation{}
	for _, i := range idx[:n] {
		e.Closest = append(e.Closest, Difference{vk.names[i], q[i], v[i]})
	}
	for j := len(idx) - 1; j >= len(idx)-n; j-- {
		i := idx[j]
		e.Farthest = append(e.Farthest, Difference{vk.names[i], q[i], v[i]})
	}
	return e
}

// icons answers a query by icons through the kind's spatial index.
func (l *Library) icons(ctx context.Context, q *Query, filter compiled, cur cursor) (*Answer, error) {
	if q.Kind == "" {
		q.Kind = sp.KindVolume
	}
	if err := q.Icons.Validate(); err != nil {
		return nil, fmt.Errorf("%w: icons: %w", ErrQuery, err)
	}
	l.mu.RLock()
	x, ok := l.images[q.Kind]
	l.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: kind %q has no virtual images (icons search %s or %s)", ErrNotFound, q.Kind, sp.KindVolume, sp.KindSlice)
	}
	found, _, err := x.Search(q.Icons)
	if err != nil {
		return nil, fmt.Errorf("%w: icons: %w", ErrQuery, err)
	}
	a := &Answer{Kind: q.Kind, Index: "spatial"}
	if q.Filter != "" {
		allowed, err := l.store.items(ctx, q.Kind, filter)
		if err != nil {
			return nil, fmt.Errorf("search: filtering: %w", err)
		}
		found = slices.DeleteFunc(found, func(h spatial.Hit) bool { return !allowed[h.Key] })
		a.Index += "+sqlite"
	}
	return l.page(ctx, a, q, cur, len(found), func(i int) (string, Hit) {
		s := found[i].Match.Sim
		return found[i].Key, Hit{Sim: &s}
	}, nil)
}
