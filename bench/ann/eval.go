package ann

import (
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/lsh"
)

// Truth holds the exact k nearest base rows of every query, found with
// index.Exact.
type Truth struct {
	K      int
	Metric index.Metric
	Rows   [][]int     // per query, base row numbers, nearest first
	Dists  [][]float64 // their distances
}

// Check returns an error naming the flag or file when base and queries
// cannot be searched with k under m: dimensions that differ, k outside 1
// to the number of base vectors, a vector the metric refuses.
func Check(base, queries *Set, k int, m index.Metric) error {
	switch {
	case base.Dim != queries.Dim:
		return fmt.Errorf("%s has vectors of %s, %s of %d (dimension mismatch)", queries.Name, Count(queries.Dim, "value"), base.Name, base.Dim)
	case k < 1 || k > base.Len():
		return fmt.Errorf("k is %d; it must be from 1 to the %s of %s", k, Count(base.Len(), "vector"), base.Name)
	}
	for _, s := range []*Set{base, queries} {
		if err := s.checkValues(m); err != nil {
			return err
		}
	}
	return nil
}

// GroundTruth searches every query in an exact index of base, on every
// core.
func GroundTruth(base, queries *Set, k int, m index.Metric) (*Truth, error) {
	if err := Check(base, queries, k, m); err != nil {
		return nil, err
	}
	x := index.NewExactMetric(base.Dim, m)
	for i := range base.Len() {
		if err := x.Add(strconv.Itoa(i), base.Row(i), nil); err != nil {
			return nil, err
		}
	}
	t := &Truth{K: k, Metric: m, Rows: make([][]int, queries.Len()), Dists: make([][]float64, queries.Len())}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for q := int(next.Add(1) - 1); q < queries.Len(); q = int(next.Add(1) - 1) {
				for _, h := range x.Search(queries.Row(q), k, nil) {
					row, _ := strconv.Atoi(h.Key)
					t.Rows[q] = append(t.Rows[q], row)
					t.Dists[q] = append(t.Dists[q], h.Distance)
				}
			}
		})
	}
	wg.Wait()
	return t, nil
}

// Matches reports whether t can be the truth of queries in base: one
// answer of K rows per query, each row in base at the distance t holds
// (to a float32 rounding), nearest first. A truth read back from a file
// is checked with it before use.
func (t *Truth) Matches(base, queries *Set) bool {
	if len(t.Rows) != queries.Len() || len(t.Dists) != queries.Len() {
		return false
	}
	for q, rows := range t.Rows {
		if len(rows) != t.K || len(t.Dists[q]) != t.K {
			return false
		}
		for i, r := range rows {
			if r < 0 || r >= base.Len() || (i > 0 && t.Dists[q][i] < t.Dists[q][i-1]) {
				return false
			}
			d := t.Metric.Distance(queries.Row(q), base.Row(r))
			if math.Abs(d-t.Dists[q][i]) > 1e-5*max(1, d) {
				return false
			}
		}
	}
	return true
}

// Recall returns the mean recall@k of found (per query, the base rows an
// index returned; -1 for none): a row counts when it is no farther from the
// query than the k-th true neighbour, so that ties between equally distant
// rows do not count against an index; a row given twice counts once.
func (t *Truth) Recall(base, queries *Set, found [][]int) float64 {
	hits := 0 // counted whole, so that the mean is one division, without a sum's rounding
	for q, rows := range found {
		kth := t.Dists[q][len(t.Dists[q])-1]
		seen := map[int]bool{}
		n := 0
		for _, r := range rows[:min(len(rows), t.K)] {
			if r < 0 || r >= base.Len() || seen[r] {
				continue
			}
			seen[r] = true
			if t.Metric.Distance(queries.Row(q), base.Row(r)) <= kth {
				n++
			}
		}
		hits += n
	}
	return float64(hits) / float64(t.K*len(found))
}

// LabelPrecision returns precision@k by label: the mean over the queries
// of the fraction of k whose label is the query's among the first k rows
// found (a row not found counts as a wrong one, so that an index that
// returns one good row does not score 1), or nil without labels.
func LabelPrecision(base, queries *Set, found [][]int, k int) *float64 {
	if base.Labels == nil || queries.Labels == nil {
		return nil
	}
	same := 0 // counted whole, as Recall's hits
	for q, rows := range found {
		for _, r := range rows[:min(len(rows), k)] {
			if r >= 0 && base.Labels[r] == queries.Labels[q] {
				same++
			}
		}
	}
	p := float64(same) / float64(k*len(found))
	return &p
}

// Result is one parameter setting of one index, measured.
type Result struct {
	// Tool is what built and searched the index: "ctrecon" (one Search
	// call per query), BatchTool (one SearchAll call for all queries),
	// "hnswlib" or "faiss".
	Tool  string `json:"tool"`
	Index string `json:"index"`
	// Params holds every parameter of the setting, the defaults included.
	Params    map[string]string `json:"params"`
	Data      string            `json:"data"`
	Vectors   int               `json:"vectors"`
	Queries   int               `json:"queries"`
	Dim       int               `json:"dim"`
	Metric    string            `json:"metric"`
	K         int               `json:"k"`
	RecallAtK float64           `json:"recall_at_k"`
	// QPS is queries per second of the process's CPU time, on one thread:
	// on a shared machine the wall clock also counts the time other
	// processes had the core. WallQPS is per second of the wall clock.
	QPS     float64 `json:"qps"`
	WallQPS float64 `json:"wall_qps"`
	// BuildS is the CPU seconds the build took, BuildWallS its wall-clock
	// seconds.
	BuildS     float64 `json:"build_s"`
	BuildWallS float64 `json:"build_wall_s"`
	// BytesPerVector is the memory the built index took (Go heap, or the
	// peer process's resident size) over the number of vectors.
	BytesPerVector float64 `json:"bytes_per_vector"`
	// LabelPrecision is precision@k by label (LabelPrecision), when the
	// vectors have labels.
	LabelPrecision *float64 `json:"label_precision_at_k,omitempty"`
	// ReturnedPerQuery is the mean number of rows a search returned, at
	// most K: below K (a tree's checks, LSH's short buckets, a k near the
	// vectors), recall@k and precision@k count the missing as wrong.
	ReturnedPerQuery float64 `json:"returned_per_query"`
	// Adjusted lists the parameters of Params whose values in use differ
	// from those given (index.Adjuster): what was measured is the index
	// with the Used values.
	Adjusted []index.Adjusted `json:"adjusted,omitempty"`
	// DistancesPerQuery is the distances a search computed, per query,
	// for an index that counts them (the Slim-tree), against the Vectors
	// of a linear scan.
	DistancesPerQuery float64 `json:"distances_per_query,omitempty"`
	// SlimDown is the overlap of a Slim-tree's nodes before and after its
	// Slim-down, which ran after the build (BuildS counts it) and before
	// the searches.
	SlimDown *SlimDown `json:"slim_down,omitempty"`
	// Warnings say what makes the numbers suspect (a recall@k near 0),
	// with the likely cause.
	Warnings []string `json:"warnings,omitempty"`
}

// SlimDown is the fat-factor and bloat-factor of a Slim-tree (Traina et
// al. 2000) before and after its Slim-down, the absolute numbers behind
// them, and the moves it made. The fat-factor is (Ic − H·N) / N · 1/(M − H),
// Ic the node accesses of a point query for each of the N vectors, H the
// height and M the nodes: Slim-down removes the leaves it empties, so M
// falls and the fat-factor can rise while the accesses per point query
// (Ic/N) fall.
type SlimDown struct {
	FatBefore   float64 `json:"fat_factor_before"`
	FatAfter    float64 `json:"fat_factor_after"`
	BloatBefore float64 `json:"bloat_factor_before"`
	BloatAfter  float64 `json:"bloat_factor_after"`
	// AccessesBefore and AccessesAfter are the nodes a point query reads,
	// on average (Ic/N); NodesBefore and NodesAfter the tree's nodes (M).
	AccessesBefore float64 `json:"point_query_accesses_before"`
	AccessesAfter  float64 `json:"point_query_accesses_after"`
	NodesBefore    int     `json:"nodes_before"`
	NodesAfter     int     `json:"nodes_after"`
	// Moves is the moves of a vector into a sibling leaf, over every pass:
	// a vector may move more than once.
	Moves int `json:"moves"`
}

// timing is the time some work took: wall-clock and CPU seconds, and how
// many times it ran.
type timing struct {
	wall, cpu float64
	rounds    int
}

// timed runs f (given the round, from 0) again and again until min of CPU
// time has passed, at least once.
func timed(min time.Duration, f func(round int)) timing {
	wall, cpu := time.Now(), cpuSeconds()
	t := timing{}
	for ; t.rounds == 0 || cpuSeconds()-cpu < min.Seconds(); t.rounds++ {
		f(t.rounds)
	}
	t.wall, t.cpu = time.Since(wall).Seconds(), cpuSeconds()-cpu
	return t
}

// Config says what Evaluate measures.
type Config struct {
	Index  string // a registered index.Kind
	Metric index.Metric
	K      int
	// Sweep holds the parameter settings to measure, each a value per
	// parameter name (the index's defaults fill the rest); nil measures
	// the defaults. Settings that differ only in search parameters share
	// one build.
	Sweep []map[string]string
	// MinQueryTime is how long the queries are repeated for, at least
	// once, to time them; 0 runs them once.
	MinQueryTime time.Duration
}

// Check returns an error naming the index or the parameter that cfg gets
// wrong: an index that is not registered, a parameter it does not have, a
// value it refuses (it makes an empty index with each setting, which is
// cheap), a k below 1.
func (cfg Config) Check() error {
	kind, err := index.KindNamed(cfg.Index)
	if err != nil {
		return err
	}
	if cfg.K < 1 {
		return fmt.Errorf("k is %d; it must be at least 1", cfg.K)
	}
	for _, s := range cfg.settings() {
		bp, err := kind.BuildParams(s)
		if err != nil {
			return err
		}
		x, err := kind.New(0, cfg.Metric, bp)
		if err != nil {
			return err
		}
		if err := setSearchParams(x, kind, s); err != nil {
			return err
		}
	}
	return nil
}

// CheckSize returns an error naming the parameter of a setting whose value
// cannot mean anything for an index of n vectors (index.Kind.Fits), so
// that it is refused before the ground truth and the builds.
func (cfg Config) CheckSize(n int) error {
	kind, err := index.KindNamed(cfg.Index)
	if err != nil || kind.Fits == nil {
		return err
	}
	for _, s := range cfg.settings() {
		bp, err := kind.BuildParams(s)
		if err == nil {
			err = kind.Fits(n, bp)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (cfg Config) settings() []map[string]string {
	if len(cfg.Sweep) == 0 {
		return []map[string]string{{}}
	}
	return cfg.Sweep
}

// Evaluate builds cfg.Index on base for each setting of cfg.Sweep and
// searches queries, on one thread (GOMAXPROCS 1 while it builds and
// searches, so that the collector runs on that thread too).
func Evaluate(base, queries *Set, truth *Truth, cfg Config) ([]Result, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if err := cfg.CheckSize(base.Len()); err != nil {
		return nil, err
	}
	kind, _ := index.KindNamed(cfg.Index)
	builds := map[string][]map[string]string{}
	var order []string
	for _, s := range cfg.settings() {
		bp, _ := kind.BuildParams(s)
		key := fmt.Sprint(bp) // fmt sorts map keys
		if builds[key] == nil {
			order = append(order, key)
		}
		builds[key] = append(builds[key], s)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var out []Result
	var x index.Index
	for _, key := range order {
		group := builds[key]
		bp, _ := kind.BuildParams(group[0])
		x = nil // not counted in the next build's memory
		var bt timing
		var bytes float64
		var err error
		x, bt, bytes, err = build(kind, bp, base, cfg.Metric)
		if err != nil {
			return nil, err
		}
		slim, st := slimDown(x)
		bt.cpu, bt.wall = bt.cpu+st.cpu, bt.wall+st.wall
		for _, s := range group {
			r, err := measure(x, s, base, queries, truth, cfg)
			if err != nil {
				return nil, err
			}
			r.Params = fullParams(kind, s)
			r.BuildS, r.BuildWallS, r.BytesPerVector = bt.cpu, bt.wall, bytes
			r.SlimDown = slim
			r.Warnings = append(r.Warnings, warnings(r)...)
			out = append(out, r)
		}
	}
	return out, nil
}

// fullParams returns setting s with every parameter of kind, defaults
// filled in.
func fullParams(kind index.Kind, s map[string]string) map[string]string {
	p := map[string]string{}
	for _, param := range kind.Params {
		p[param.Name] = param.Default
	}
	maps.Copy(p, s)
	return p
}

// build makes an index of base and returns it, the time it took and its
// heap bytes per vector.
func build(kind index.Kind, params map[string]string, base *Set, m index.Metric) (index.Index, timing, float64, error) {
	// Twice: what a sync.Pool of the index measured before holds survives
	// one collection, and would count against this one.
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	x, err := kind.New(base.Dim, m, params)
	if err != nil {
		return nil, timing{}, 0, err
	}
	if r, ok := x.(interface{ Reserve(n int) }); ok {
		r.Reserve(base.Len())
	}
	t := timed(0, func(int) {
		for i := range base.Len() {
			if err = x.Add(strconv.Itoa(i), base.Row(i), nil); err != nil {
				err = fmt.Errorf("%s, row %d: %w", base.Name, i+1, err)
				return
			}
		}
	})
	if err != nil {
		return nil, timing{}, 0, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return x, t, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(base.Len()), nil
}

// measure sets x's search parameters from s, then searches every query,
// over and over until cfg.MinQueryTime has passed, and measures the first
// round's answers.
func measure(x index.Index, s map[string]string, base, queries *Set, truth *Truth, cfg Config) (Result, error) {
	kind, _ := index.KindNamed(cfg.Index)
	if err := setSearchParams(x, kind, s); err != nil {
		return Result{}, err
	}
	counter, counts := x.(interface{ Distances() int64 })
	var before int64
	if counts {
		before = counter.Distances()
	}
	found, t := search(x, queries, cfg.K, cfg.MinQueryTime)
	r := result("ctrecon", cfg.Index, base, queries, truth, found, t)
	if counts {
		r.DistancesPerQuery = float64(counter.Distances()-before) / float64(t.rounds*queries.Len())
	}
	if a, ok := x.(index.Adjuster); ok {
		r.Adjusted = a.Adjusted(cfg.K)
	}
	if s, ok := x.(interface{ Scans() bool }); ok && s.Scans() {
		r.Warnings = append(r.Warnings, fmt.Sprintf("every search scanned all %s, too few for the index to "+
			"hash or partition them (see its adjusted parameters): this row measures a linear scan, not %s", Count(base.Len(), "vector"), cfg.Index))
	}
	return r, nil
}

// slimDown runs the Slim-down of a Slim-tree x and returns its fat- and
// bloat-factors before and after, and the time Slim-down took, which
// counts in the build's (the index searched is the slimmed one); nil for
// another index.
func slimDown(x index.Index) (*SlimDown, timing) {
	t, ok := x.(slimTree)
	if !ok {
		return nil, timing{}
	}
	s := &SlimDown{}
	s.FatBefore, s.BloatBefore, s.AccessesBefore, s.NodesBefore = measureOverlap(t)
	took := timed(0, func(int) { s.Moves = t.SlimDown() })
	s.FatAfter, s.BloatAfter, s.AccessesAfter, s.NodesAfter = measureOverlap(t)
	return s, took
}

// slimTree is what slimDown needs of a Slim-tree.
type slimTree interface {
	FatFactor() (fat, bloat float64)
	Shape() (nodes, height int)
	SlimDown() int
}

// measureOverlap returns t's fat- and bloat-factors, the nodes a point
// query reads on average (Ic/N, from the fat-factor's definition: H +
// fat·(M − H)) and its nodes M.
func measureOverlap(t slimTree) (fat, bloat, accesses float64, nodes int) {
	fat, bloat = t.FatFactor()
	nodes, h := t.Shape()
	return fat, bloat, float64(h) + fat*float64(nodes-h), nodes
}

// warnings returns what makes r's numbers suspect: a recall near 0
// (lowRecall), searches that return fewer than k rows, a tree that
// computes as many distances per query as a linear scan (no pruning).
func warnings(r Result) []string {
	w := lowRecall(r)
	if r.DistancesPerQuery > 0 && r.DistancesPerQuery >= float64(r.Vectors) {
		w = append(w, fmt.Sprintf("searches computed %.0f distances per query, no fewer than a linear scan's %d: "+
			"the index prunes nothing, as in data of high intrinsic dimension", r.DistancesPerQuery, r.Vectors))
	}
	if r.ReturnedPerQuery < float64(r.K) {
		w = append(w, fmt.Sprintf("searches returned %.2f rows per query on average, fewer than k=%d: "+
			"recall@k and precision@k count the missing ones as wrong", r.ReturnedPerQuery, r.K))
	}
	return w
}

// poorRecall is the recall@k below which a setting is warned about: it
// finds next to none of the true neighbours.
const poorRecall = 0.05

// lowRecall returns a warning when r's recall@k is below poorRecall,
// with the likely cause for its index, or nil.
func lowRecall(r Result) []string {
	if r.RecallAtK >= poorRecall {
		return nil
	}
	why := map[string]string{
		"lsh":  lshAdvice(r),
		"ivf":  "the nprobe lists searched miss the neighbours: try a larger nprobe",
		"hnsw": "the graph search stops short: try a larger ef, M or efConstruction",
		"tree": "the checks stop short of the neighbours' leaves: try a larger checks (0 is exact)",
	}[r.Index]
	if why == "" {
		why = "the index misses the neighbours exact search finds"
	}
	return []string{fmt.Sprintf("recall@k is %.4f: %s", r.RecallAtK, why)}
}

// lshAdvice says why an LSH setting r may find next to none of the
// neighbours, for the family in use: a hyperplane table has no width; a
// p-stable one's width, when given, may be too small, and when measured
// (width=0) fits the data, so the hashes, tables and probes are to blame.
// It offers width=0 and family=auto only where the metric allows them.
func lshAdvice(r Result) string {
	m, err := index.MetricNamed(r.Metric)
	own := ownFamily(m, err)
	family := used(r, "family")
	why := "the query's buckets hold next to none of its neighbours: "
	switch w, measured := measuredWidth(r); {
	case family == "hyperplane":
		why += "try fewer hashes (larger buckets), more tables or more probes"
	case measured:
		why += "the width measured on the data (" + w + ") fits its distances, so try fewer hashes, more tables or more probes"
	default:
		why += "the bucket width is too small for the data's distances (try a larger width"
		if family == string(own) {
			why += ", or width=0 to measure it"
		}
		why += "); fewer hashes, more tables and more probes help too"
	}
	switch {
	case err != nil || family == string(own):
	case own == "":
		why += "; and no LSH family follows the " + r.Metric + " metric"
	default:
		why += "; or family=" + family + " does not follow the " + r.Metric + " metric (try family=auto)"
	}
	return why
}

// ownFamily returns the LSH family that follows m, or "" when none does
// or m is unknown (err).
func ownFamily(m index.Metric, err error) lsh.Family {
	if err != nil {
		return ""
	}
	return lsh.Follows(m)
}

// measuredWidth returns the bucket width r's LSH index measured on the
// data (width=0), and whether it measured one: not for a width given, nor
// below the size that hashes anything (used none).
func measuredWidth(r Result) (string, bool) {
	a, ok := adjusted(r, "width")
	if !ok {
		return "", false
	}
	_, err := strconv.ParseFloat(a.Used, 64)
	return a.Used, err == nil
}

// used returns the value in use of r's parameter name: the adjusted one,
// or the one given.
func used(r Result, name string) string {
	if a, ok := adjusted(r, name); ok {
		return a.Used
	}
	return r.Params[name]
}

// adjusted returns r's adjustment of the parameter name, if it has one.
func adjusted(r Result, name string) (index.Adjusted, bool) {
	i := slices.IndexFunc(r.Adjusted, func(a index.Adjusted) bool { return a.Name == name })
	if i < 0 {
		return index.Adjusted{}, false
	}
	return r.Adjusted[i], true
}

// setSearchParams sets x's search parameters from setting s.
func setSearchParams(x index.Index, kind index.Kind, s map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(s)) {
		if p, _ := kind.Param(name); p.Search {
			t, ok := x.(index.Tuner)
			if !ok {
				return fmt.Errorf("index %s does not take search parameters", kind.Name)
			}
			if err := t.SetParam(name, s[name]); err != nil {
				return err
			}
		}
	}
	return nil
}

// search searches every query in x with one Search call each, again and
// again until min of CPU time has passed, and returns the first round's
// answers as base row numbers.
func search(x index.Index, queries *Set, k int, min time.Duration) ([][]int, timing) {
	found := make([][]int, queries.Len())
	t := timed(min, func(round int) {
		for q := range queries.Len() {
			hits := x.Search(queries.Row(q), k, nil)
			if round == 0 {
				found[q] = rows(hits)
			}
		}
	})
	return found, t
}

// searchAll searches every query in x with one index.SearchAll call per
// round, as search does.
func searchAll(x index.Index, queries *Set, k int, min time.Duration) ([][]int, timing) {
	qs := make([][]float32, queries.Len())
	for q := range qs {
		qs[q] = queries.Row(q)
	}
	found := make([][]int, queries.Len())
	t := timed(min, func(round int) {
		all := index.SearchAll(x, qs, k, nil)
		if round == 0 {
			for q, hits := range all {
				found[q] = rows(hits)
			}
		}
	})
	return found, t
}

// rows returns the base row numbers of hits (their keys).
func rows(hits []index.Hit) []int {
	r := make([]int, len(hits))
	for i, h := range hits {
		r[i], _ = strconv.Atoi(h.Key)
	}
	return r
}

// result returns what found and the time the queries took say about tool's
// index.
func result(tool, kind string, base, queries *Set, truth *Truth, found [][]int, t timing) Result {
	n := float64(t.rounds * queries.Len())
	returned := 0
	for _, rows := range found {
		for _, r := range rows[:min(len(rows), truth.K)] {
			if r >= 0 {
				returned++
			}
		}
	}
	return Result{
		Tool: tool, Index: kind, Data: strings.TrimSuffix(base.Name, " base"),
		Vectors: base.Len(), Queries: queries.Len(), Dim: base.Dim, Metric: truth.Metric.Name(), K: truth.K,
		RecallAtK: truth.Recall(base, queries, found),
		QPS:       n / t.cpu, WallQPS: n / t.wall,
		LabelPrecision:   LabelPrecision(base, queries, found, truth.K),
		ReturnedPerQuery: float64(returned) / float64(len(found)),
	}
}

// Sweep returns every combination of the values given per parameter name
// (the cartesian product), names in sorted order, the last varying
// fastest: {"M": {"8", "16"}, "ef": {"10", "20"}} gives M=8 ef=10, M=8
// ef=20, M=16 ef=10, M=16 ef=20.
func Sweep(values map[string][]string) []map[string]string {
	out := []map[string]string{{}}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		var next []map[string]string
		for _, s := range out {
			for _, v := range values[name] {
				c := maps.Clone(s)
				c[name] = v
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}
