package search

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Fanout answers queries over a library split into shards (Config.Shard)
// by asking every shard over NATS, at once, and merging their answers:
//
//   - similarity and icons: each shard's ranked hits merged by distance
//     (SIM_deg for icons, highest first), ties by key, as one library
//     ranks them; k nearest keeps the k first. A query like an item asks
//     the shard that owns the item's series for its vector first, and the
//     other shards for the vector's neighbours.
//   - a filter alone: the totals summed, and the records listed shard by
//     shard, each shard's in its storage order.
//
// Its cursor holds where each shard's list stands, so paging goes on
// across the merge. A shard that answers 400 or 404 while another answers
// holds nothing of the query (a kind or feature name it has not seen); if
// none answers, the answer is that error (a 400 before a 404). A shard no
// replica of which answers (after Retry) fails the query with 503: a
// partial answer would look whole. Answer.Index lists the shards' indexes
// and Answer.Shards says what each served and how long it took.
type Fanout struct {
	Conn *nats.Conn
	// Shards is how many shards the library is split into.
	Shards int
	// Retry is each request's (zero: DefaultRetry).
	Retry Retry
}

// ShardServed is what one shard's answer said of a query merged from
// shards.
type ShardServed struct {
	Shard  string  `json:"shard"`
	Index  string  `json:"index,omitempty"`
	TookMS float64 `json:"took_ms"`
	// Error is the shard's 4xx message when it held nothing of the query.
	Error string `json:"error,omitempty"`
}

// fanCursor is a Fanout's cursor: the query's hash and the answer's
// offset, and where the shards stand: for ranked hits, how many of each
// shard's were used (Used); for a filter, the shard being listed (Shard)
// and its cursor (Cursor).
type fanCursor struct {
	Query  string `json:"q"`
	Offset int    `json:"o,omitempty"`
	Used   []int  `json:"u,omitempty"`
	Shard  int    `json:"s,omitempty"`
	Cursor string `json:"c,omitempty"`
}

// shardReply is one shard's answer, or why there is none.
type shardReply struct {
	a   *Answer
	err error
}

// Search answers q from every shard.
func (f *Fanout) Search(ctx context.Context, q Query) (*Answer, error) {
	start := time.Now()
	if f.Shards < 1 || f.Shards > MaxShards {
		return nil, fmt.Errorf("search: a fan-out over %d shards: want 1 to %d", f.Shards, MaxShards)
	}
	c := q // checked, with the defaults; the shards get q as given
	if err := checkQuery(&c); err != nil {
		return nil, err
	}
	cur, err := f.decodeCursor(&c)
	if err != nil {
		return nil, err
	}
	q.Cursor = ""
	var a *Answer
	if q.Icons != nil || q.Like != "" || q.Vector != nil {
		a, err = f.ranked(ctx, q, &c, cur)
	} else {
		a, err = f.cohort(ctx, q, c.Limit, cur)
	}
	if err != nil {
		return nil, err
	}
	a.TookMS = float64(time.Since(start).Microseconds()) / 1000
	return a, nil
}

func (f *Fanout) decodeCursor(q *Query) (fanCursor, error) {
	if q.Cursor == "" {
		return fanCursor{Query: q.hash(), Used: make([]int, f.Shards)}, nil
	}
	var c fanCursor
	err := openCursor(q, &c, &c.Query, func() bool {
		return c.Offset >= 0 && len(c.Used) == f.Shards && c.Shard >= 0 && c.Shard < f.Shards && slices.Min(c.Used) >= 0
	})
	return c, err
}

func (c fanCursor) encode() string { return sealCursor(c) }

// ranked answers a similarity query or a query by icons: c is q checked.
func (f *Fanout) ranked(ctx context.Context, q Query, c *Query, cur fanCursor) (*Answer, error) {
	subs := make([]Query, f.Shards)
	for i := range subs {
		subs[i] = q
		subs[i].Limit = c.Limit
	}
	if q.Like != "" {
		it, err := ParseItem(q.Like)
		if err != nil {
			return nil, fmt.Errorf("%w: like: %w", ErrQuery, err)
		}
		owner := ShardOf(it.Series, f.Shards)
		var lv likeVector
		if err := f.ask(ctx, owner, "vector", likeRequest{Kind: q.Kind, Like: q.Like}, &lv); err != nil {
			return nil, f.failed(owner, err)
		}
		for i := range subs {
			if i != owner { // the owner leaves the item out of its hits
				subs[i].Like, subs[i].Vector = "", lv.Vector
			}
		}
	}
	replies := f.fan(ctx, func(i int) Query {
		s := subs[i]
		s.Cursor = shardCursor(s, cur.Used[i])
		return s
	})
	a, err := f.merged(replies)
	if err != nil {
		return nil, err
	}
	limit := math.MaxInt // icons and ranges: every hit, as one library
	switch {
	case q.Icons == nil && q.Within == nil:
		limit = c.K
	case q.Within != nil:
		limit = MaxRange
	}
	order := cmpDistance
	if q.Icons != nil {
		order = cmpSim
	}
	n := min(c.Limit, limit-min(cur.Offset, limit))
	var used []int
	a.Hits, used = mergeRanked(replies, n, order)
	more := false
	for i, r := range replies {
		more = more || r.a != nil && (used[i] < len(r.a.Hits) || r.a.Next != "")
		used[i] += cur.Used[i]
	}
	for i := range a.Hits {
		a.Hits[i].Rank = cur.Offset + i + 1
	}
	if more && cur.Offset+len(a.Hits) < limit {
		a.Next = fanCursor{Query: cur.Query, Offset: cur.Offset + len(a.Hits), Used: used}.encode()
	}
	return a, nil
}

// mergeRanked takes up to n hits from the replies' ranked hits, the one
// that order puts first each time, and returns them and how many it took
// of each reply.
func mergeRanked(replies []shardReply, n int, order func(x, y *Hit) int) ([]Hit, []int) {
	hits, used := []Hit{}, make([]int, len(replies))
	for len(hits) < n {
		best := -1
		for i, r := range replies {
			if r.a != nil && used[i] < len(r.a.Hits) && (best < 0 || order(&r.a.Hits[used[i]], &replies[best].a.Hits[used[best]]) < 0) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		hits = append(hits, replies[best].a.Hits[used[best]])
		used[best]++
	}
	return hits, used
}

// shardCursor is the cursor of shard query s's page that starts after
// its used first hits: the shard's own cursor (see cursor).
func shardCursor(s Query, used int) string {
	if used == 0 {
		return ""
	}
	checkQuery(&s) // the shard hashes the query it checked
	return cursor{Query: s.hash(), Offset: used}.encode()
}

// cmpDistance orders hits as index.SortHits does: nearest first, then by
// key (a hit without a distance, which no shard sends, last).
func cmpDistance(x, y *Hit) int {
	return cmp.Or(cmp.Compare(orElse(x.Distance, math.Inf(1)), orElse(y.Distance, math.Inf(1))), strings.Compare(x.Key, y.Key))
}

// cmpSim orders hits as the spatial index does: highest SIM_deg first,
// then by key (a hit without one last).
func cmpSim(x, y *Hit) int {
	return cmp.Or(cmp.Compare(orElse(y.Sim, -1), orElse(x.Sim, -1)), strings.Compare(x.Key, y.Key))
}

// orElse returns *p, or none when p is nil.
func orElse(p *float64, none float64) float64 {
	if p == nil {
		return none
	}
	return *p
}

// cohort answers a filter-only query: the shards' totals summed, and a
// page of limit records listed shard by shard from where cur stands.
func (f *Fanout) cohort(ctx context.Context, q Query, limit int, cur fanCursor) (*Answer, error) {
	// Every shard counts; the one being listed lists its page too.
	replies := f.fan(ctx, func(i int) Query {
		s := q
		s.Limit = 1
		if i == cur.Shard {
			s.Limit, s.Cursor = limit, cur.Cursor
		}
		return s
	})
	a, err := f.merged(replies)
	if err != nil {
		return nil, err
	}
	a.Index = "sqlite"
	total := 0
	for _, r := range replies {
		if r.a != nil && r.a.Total != nil {
			total += *r.a.Total
		}
	}
	a.Total = &total
	page, shard := replies[cur.Shard].a, cur.Shard
	for {
		if page != nil {
			a.Hits = append(a.Hits, page.Hits...)
			if page.Next != "" {
				a.Next = fanCursor{Query: cur.Query, Offset: cur.Offset + len(a.Hits), Shard: shard, Cursor: page.Next, Used: cur.Used}.encode()
				break
			}
		}
		if shard = nextListed(replies, shard); shard == f.Shards {
			break
		}
		if len(a.Hits) == limit {
			a.Next = fanCursor{Query: cur.Query, Offset: cur.Offset + len(a.Hits), Shard: shard, Used: cur.Used}.encode()
			break
		}
		s := q
		s.Limit = limit - len(a.Hits)
		page = new(Answer)
		if err := f.ask(ctx, shard, "query", s, page); err != nil {
			if _, held := heldNothing(err); !held {
				return nil, f.failed(shard, err)
			}
			page = nil
		}
	}
	for i := range a.Hits {
		a.Hits[i].Rank = cur.Offset + i + 1
	}
	return a, nil
}

// nextListed returns the first shard after shard whose count is not 0,
// or len(replies).
func nextListed(replies []shardReply, shard int) int {
	for shard++; shard < len(replies); shard++ {
		if r := replies[shard].a; r != nil && r.Total != nil && *r.Total > 0 {
			return shard
		}
	}
	return shard
}

// merged returns an answer without hits that says what each reply says:
// its index and time, or the 4xx error of a shard that held nothing of
// the query. It fails when a shard did not answer, or when none held
// anything (with a 400 before a 404).
func (f *Fanout) merged(replies []shardReply) (*Answer, error) {
	a := &Answer{Hits: []Hit{}, Shards: make([]ShardServed, len(replies))}
	var indexes []string
	var refused error
	for i, r := range replies {
		s := &a.Shards[i]
		s.Shard = Shard{i, f.Shards}.String()
		if r.err != nil {
			he, held := heldNothing(r.err)
			if !held {
				return nil, f.failed(i, r.err)
			}
			if refused == nil || he.status == http.StatusBadRequest && !errors.Is(refused, ErrQuery) {
				refused = r.err
			}
			s.Error = he.msg
			continue
		}
		s.Index, s.TookMS = r.a.Index, r.a.TookMS
		a.Kind = cmp.Or(a.Kind, r.a.Kind)
		if !slices.Contains(indexes, r.a.Index) {
			indexes = append(indexes, r.a.Index)
		}
	}
	if indexes == nil {
		return nil, f.failed(-1, refused)
	}
	slices.Sort(indexes)
	a.Index = strings.Join(indexes, ",")
	return a, nil
}

// heldNothing reports whether err is a shard's 4xx, which says it holds
// nothing of the query, and returns it as this service's error.
func heldNothing(err error) (*httpError, bool) {
	var se *ServiceError
	if errors.As(err, &se) && se.Code >= 400 && se.Code < 500 {
		return &httpError{se.Code, se.Message}, true
	}
	return nil, false
}

// failed returns shard's err as the fan-out's: a 4xx as the shard said
// it, no answer as a 503 naming the shard (-1: none).
func (f *Fanout) failed(shard int, err error) error {
	if he, ok := heldNothing(err); ok {
		return he
	}
	return &httpError{http.StatusServiceUnavailable, fmt.Sprintf("shard %s did not answer: %v", Shard{shard, f.Shards}, err)}
}

// fan sends query(i) to every shard i at once and returns their replies.
func (f *Fanout) fan(ctx context.Context, query func(i int) Query) []shardReply {
	replies := make([]shardReply, f.Shards)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() {
			var a Answer
			if err := f.ask(ctx, i, "query", query(i), &a); err != nil {
				replies[i].err = err
				return
			}
			replies[i].a = &a
		})
	}
	wg.Wait()
	return replies
}

// ask sends req to shard's endpoint and decodes its answer into out.
func (f *Fanout) ask(ctx context.Context, shard int, endpoint string, req, out any) error {
	return request(ctx, f.Conn, Shard{shard, f.Shards}.subject(endpoint), req, out, f.Retry)
}

// Kinds merges the shards' kinds: records and vectors summed, indexes
// listed, feature names joined in the order the shards give them.
func (f *Fanout) Kinds(ctx context.Context) ([]KindInfo, error) {
	lists := make([][]KindInfo, f.Shards)
	errs := make([]error, f.Shards)
	var wg sync.WaitGroup
	for i := range lists {
		wg.Go(func() {
			var k struct{ Kinds []KindInfo }
			errs[i] = f.ask(ctx, i, "kinds", struct{}{}, &k)
			lists[i] = k.Kinds
		})
	}
	wg.Wait()
	byKind := map[string]*KindInfo{}
	for i, list := range lists {
		if errs[i] != nil {
			return nil, f.failed(i, errs[i])
		}
		for _, k := range list {
			m, ok := byKind[k.Kind]
			if !ok {
				m = &KindInfo{Kind: k.Kind, Index: k.Index, Dim: k.Dim}
				byKind[k.Kind] = m
			}
			m.Records += k.Records
			m.Vectors += k.Vectors
			if !slices.Contains(strings.Split(m.Index, ","), k.Index) {
				m.Index += "," + k.Index
			}
			for _, n := range k.Names {
				if !slices.Contains(m.Names, n) {
					m.Names = append(m.Names, n)
				}
			}
		}
	}
	out := make([]KindInfo, 0, len(byKind))
	for _, k := range byKind {
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b KindInfo) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}
