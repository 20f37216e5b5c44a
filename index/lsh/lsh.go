// Package lsh is locality-sensitive hashing (Indyk and Motwani 1998,
// Gionis, Indyk and Motwani 1999): tables hash tables, each keyed by
// hashes functions of one family concatenated, so that near vectors share
// a bucket far more often than distant ones; a search measures the vectors
// in the query's bucket of every table and, with multi-probe (Lv et al.
// 2007), in the probes buckets of each table a perturbation away, most
// likely first. Tables and probes trade recall for speed and memory.
//
// The families are Charikar's random hyperplanes for cosine and the
// p-stable ones of Datar et al. for Euclidean (Gaussian) and Manhattan
// (Cauchy) distances; see Family. A p-stable function needs a bucket width
// in the data's units: given as width, or measured on the vectors, E2LSH's
// w = 4 at a near-neighbour radius of 1: 4 times the median, over a sample
// of them, of the distance to the nearest stored vector. It is measured
// when the index reaches minTrain vectors (until then they are searched by
// scanning), and again, every vector hashed anew, each time the index has
// doubled since, as the nearest neighbours draw closer.
//
// The index registers as "lsh" (index.Register) with parameters family,
// tables, hashes, width, seed and probes; see Kind.
package lsh

import (
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/vecstore"
)

const (
	kindVersion = 1
	// minTrain is the number of vectors at which the width is first
	// measured.
	minTrain = 256
	// widthScale is the width in median nearest-neighbour distances.
	widthScale = 4
	// widthSample is the number of vectors whose nearest neighbours are
	// measured.
	widthSample = 64
)

// Config are an index's parameters.
type Config struct {
	Family Family
	// Tables is the number of hash tables.
	Tables int
	// Hashes is the number of functions per table, 1 to 64.
	Hashes int
	// Width is a p-stable function's bucket width in the metric's units;
	// 0 measures it on the vectors (see the package doc).
	Width float64
	// Probes is the number of buckets besides the query's that a search
	// measures in each table.
	Probes int
	Seed   uint64
}

// DefaultConfig is what Kind's parameters default to.
func DefaultConfig() Config {
	return Config{Family: Auto, Tables: 8, Hashes: 8, Probes: 16, Seed: 1}
}

// Kind is the "lsh" kind of index.Register.
var Kind = index.Kind{
	Name: "lsh",
	Doc:  "locality-sensitive hashing: random hyperplanes (cosine) or p-stable projections (Euclidean, Manhattan), multi-probe",
	Params: []index.Param{
		{Name: "family", Default: "auto", Doc: "hyperplane, gaussian, cauchy, or auto (the metric's)",
			Values: []string{string(Auto), string(Hyperplane), string(Gaussian), string(Cauchy)}},
		{Name: "tables", Default: "8", Doc: "hash tables"},
		{Name: "hashes", Default: "8", Doc: "functions per table, 1 to 64"},
		{Name: "width", Default: "0", Doc: "p-stable bucket width; 0 measures it on the data"},
		{Name: "seed", Default: "1", Doc: "random seed of the functions"},
		{Name: "probes", Default: "16", Doc: "buckets besides the query's measured per table", Search: true},
	},
	New: func(dim int, m index.Metric, p map[string]string) (index.Index, error) {
		c := DefaultConfig()
		c.Family = Family(p["family"])
		err := vecstore.Ints(p, &c.Seed, vecstore.IntParam{Name: "tables", To: &c.Tables, Lo: 1, Hi: 1 << 12},
			vecstore.IntParam{Name: "hashes", To: &c.Hashes, Lo: 1, Hi: 64})
		if err != nil {
			return nil, err
		}
		if c.Width, err = vecstore.Float(p, "width", 0, math.MaxFloat64); err != nil {
			return nil, err
		}
		if c.Family == Hyperplane && c.Width > 0 {
			return nil, fmt.Errorf("parameter width is %g, but family=%s has no bucket width (a function is the side of a hyperplane): leave width out", c.Width, Hyperplane)
		}
		return New(dim, m, c)
	},
	Load: load,
}

func init() { index.Register(Kind) }

var (
	_ index.Index    = (*Index)(nil)
	_ index.Tuner    = (*Index)(nil)
	_ index.Adjuster = (*Index)(nil)
)

// Index is an LSH index. It is safe for concurrent use: searches run in
// parallel with each other and wait for changes.
type Index struct {
	vecstore.Basics // Metric, Dim, Len, Get, Add, Delete, Search, Range
	base            vecstore.Base
	cfg             Config
	auto            bool     // cfg.Family was picked for the metric (not saved)
	width           float64  // the width in use, 0 until measured
	measured        int      // Len when the width was last measured
	tables          []*table // made at the first Add
	pending         vecstore.Lists
	visited         sync.Pool // of *[]uint64, a bit per slot
}

// New returns an empty index of vectors of dim values (0: set by the first
// Add) under m. Zero Tables and Hashes take DefaultConfig's; an error
// names a metric given as a function (whose vectors mean nothing projected),
// a family that does not follow m or a Hashes above 64.
func New(dim int, m index.Metric, c Config) (*Index, error) {
	d := DefaultConfig()
	if err := index.NeedBuiltin("lsh", "projects vectors onto random directions", m); err != nil {
		return nil, err
	}
	f, err := familyFor(c.Family, m, c.Width)
	if err != nil {
		return nil, err
	}
	if c.Hashes > 64 {
		return nil, fmt.Errorf("parameter hashes is %d, want at most 64", c.Hashes)
	}
	auto := c.Family != f
	c.Family = f
	c.Tables = vecstore.OrDefault(c.Tables, d.Tables)
	c.Hashes = vecstore.OrDefault(c.Hashes, d.Hashes)
	c.Probes = max(c.Probes, 0)
	x := &Index{base: vecstore.NewBase(dim, m), cfg: c, auto: auto}
	x.Basics = x.base.Basics(x.insert, x.remove, x.collect)
	if f == Hyperplane || c.Width > 0 {
		x.width = c.Width
	}
	x.pending.New()
	return x, nil
}

// Kind returns "lsh".
func (x *Index) Kind() string { return Kind.Name }

// Width returns the bucket width of the p-stable functions: given, or
// measured (0 before it is); 0 for hyperplanes.
func (x *Index) Width() float64 {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	return x.width
}

// Adjusted reports the family picked for the metric (family=auto), the
// width a p-stable family measured on the data (none below minTrain
// vectors, which every search scans; none for hyperplanes), and probes
// beyond the 2^hashes − 1 other buckets of a hyperplane table
// (index.Adjuster).
func (x *Index) Adjusted(int) []index.Adjusted {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	var out []index.Adjusted
	if x.auto {
		out = append(out, index.Adjusted{Name: "family", Given: string(Auto), Used: string(x.cfg.Family),
			Why: fmt.Sprintf("the family whose collisions follow the %s metric", x.base.M)})
	}
	switch {
	case x.cfg.Family == Hyperplane:
		out = append(out, index.Adjusted{Name: "width", Given: "0", Used: "n/a",
			Why: "a hyperplane function (the side of a hyperplane) has no bucket width"})
	case x.measuring() && x.width == 0:
		out = append(out, index.Adjusted{Name: "width", Given: "0", Used: "none",
			Why: fmt.Sprintf("fewer than %d vectors, too few to measure it on: none is hashed, and every search scans them all (a linear scan, not LSH); give width=W to hash them", minTrain)})
	case x.measuring():
		out = append(out, index.Adjusted{Name: "width", Given: "0", Used: strconv.FormatFloat(x.width, 'g', 4, 64),
			Why: fmt.Sprintf("measured: %d times the median distance to the nearest vector", widthScale)})
	}
	if most := 1<<x.cfg.Hashes - 1; x.cfg.Family == Hyperplane && x.cfg.Hashes < 63 && x.cfg.Probes > most {
		out = append(out, index.Adjusted{Name: "probes", Given: strconv.Itoa(x.cfg.Probes), Used: strconv.Itoa(most),
			Why: "a table of hyperplanes has no more other buckets (2^hashes − 1)"})
	}
	return out
}

// SetParam sets probes, the buckets besides the query's a search measures
// per table.
func (x *Index) SetParam(name, value string) error {
	return x.base.SetSearchParam(Kind, name, value, "probes", 0, &x.cfg.Probes)
}

// Scans reports whether every search scans all the vectors, not hashed
// yet: a width to be measured, with fewer than minTrain vectors.
func (x *Index) Scans() bool {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	return x.base.S.Len() > 0 && !x.hashing()
}

// hashing reports whether the functions are ready: a hyperplane family,
// or a width given or measured.
func (x *Index) hashing() bool { return x.cfg.Family == Hyperplane || x.width > 0 }

// insert hashes slot i into every table, or keeps it pending until the
// functions are ready; a measured width is measured anew, and every
// vector hashed, when the index reaches minTrain vectors and each time it
// has doubled since.
func (x *Index) insert(i uint32) {
	if x.tables == nil {
		rng := rand.New(rand.NewPCG(x.cfg.Seed, 0x15a))
		for range x.cfg.Tables {
			x.tables = append(x.tables, newTable(x.cfg.Family, x.cfg.Hashes, x.base.S.Dim(), rng))
		}
	}
	if n := x.base.S.Len(); x.measuring() && n >= minTrain && n >= 2*x.measured {
		x.measure()
		return
	}
	if x.hashing() {
		x.hash(i, (*table).add)
	} else {
		x.pending.Add(0, i)
	}
}

// measuring reports whether the width is measured on the data.
func (x *Index) measuring() bool { return x.cfg.Family != Hyperplane && x.cfg.Width == 0 }

// measure measures the width on the stored vectors and hashes them all
// anew.
func (x *Index) measure() {
	s := &x.base.S
	var live []uint32
	for i := range uint32(s.Slots()) {
		if s.Live(i) {
			live = append(live, i)
		}
	}
	rng := rand.New(rand.NewPCG(x.cfg.Seed, uint64(len(live))))
	sample := make([]uint32, widthSample)
	for j := range sample {
		sample[j] = live[rng.IntN(len(live))]
	}
	x.width = widthScale * medianNearest(s, x.base.M, sample, live)
	if x.width == 0 { // all vectors equal: any width will do
		x.width = 1
	}
	x.measured = len(live)
	x.pending.Take(0)
	for _, t := range x.tables {
		clear(t.buckets)
	}
	for _, i := range live {
		x.hash(i, (*table).add)
	}
}

// remove takes slot i out of the pending list or of its buckets.
func (x *Index) remove(i uint32) {
	if x.pending.Remove(i) < 0 {
		x.hash(i, (*table).remove)
	}
}

// hash calls f with every table, slot i's key in it, and i.
func (x *Index) hash(i uint32, f func(t *table, key uint64, i uint32)) {
	p := make([]float64, x.cfg.Hashes)
	for _, t := range x.tables {
		t.project(x.base.S.Vec(i), x.width, p)
		f(t, t.key(p), i)
	}
}

// medianNearest returns the median over sample of the distance to the
// nearest vector of the slots live that is not equal to it (repeated
// vectors would make it 0), by float32 rank (square-rooted for
// Euclidean): an estimate needs no more. It returns 0 when all are equal.
func medianNearest(s *vecstore.Store, m index.Metric, sample, live []uint32) float64 {
	rank := m.RankFunc()
	near := make([]float64, len(sample))
	for a, i := range sample {
		near[a] = math.Inf(1)
		for _, j := range live {
			if r := float64(rank(s.Vec(i), s.Vec(j))); r > 0 {
				near[a] = min(near[a], r)
			}
		}
		if m.Name() == index.Euclidean.Name() {
			near[a] = math.Sqrt(near[a])
		}
	}
	near = slices.DeleteFunc(near, func(d float64) bool { return math.IsInf(d, 1) })
	if len(near) == 0 {
		return 0
	}
	slices.Sort(near)
	return near[len(near)/2]
}

// collect offers r the vectors not yet hashed and those of the probed
// buckets of every table, each once.
func (x *Index) collect(r *vecstore.Results) {
	for _, i := range x.pending.L[0] {
		r.Offer(i)
	}
	if !x.hashing() {
		return
	}
	seen := x.seen()
	defer x.visited.Put(seen)
	var offered []uint32
	p := make([]float64, x.cfg.Hashes)
	var keys []uint64
	for _, t := range x.tables {
		t.project(r.Query(), x.width, p)
		key := t.key(p)
		keys = t.probes(p, key, x.cfg.Probes, append(keys[:0], key))
		for _, k := range keys {
			for _, i := range t.buckets[k] {
				if w, bit := i/64, uint64(1)<<(i%64); (*seen)[w]&bit == 0 {
					(*seen)[w] |= bit
					offered = append(offered, i)
					r.Offer(i)
				}
			}
		}
	}
	for _, i := range offered {
		(*seen)[i/64] = 0
	}
}

// seen returns a cleared bit set of every slot.
func (x *Index) seen() *[]uint64 {
	words := x.base.S.Slots()/64 + 1
	b, _ := x.visited.Get().(*[]uint64)
	if b == nil || len(*b) < words {
		s := make([]uint64, words)
		b = &s
	}
	return b
}

// Save writes the index (see index.Load). The body of kind "lsh", version
// 1: the family (string); tables, hashes, probes (uint32 each); the width
// given and the width in use (float64 bits, uint64 each); the Len when the
// width was measured and the seed (uint64 each); the vectors (vecstore.Store.Save); whether the tables follow
// (uint8), then per table its hashes·dim projections (float32), hashes
// offsets (float64 bits, p-stable only), hashes multipliers (uint64,
// p-stable only), its number of buckets (uint64) and per bucket in
// increasing key order the key and size (uint64 each) and slots (uint32);
// last the vectors not yet hashed (vecstore.Lists.Save).
func (x *Index) Save(w io.Writer) error {
	return x.base.Save(w, Kind.Name, kindVersion, x.saveConfig, x.saveTables)
}

func (x *Index) saveConfig(e *index.Encoder) {
	e.String(string(x.cfg.Family))
	e.Uint32(uint32(x.cfg.Tables))
	e.Uint32(uint32(x.cfg.Hashes))
	e.Uint32(uint32(x.cfg.Probes))
	e.Uint64(math.Float64bits(x.cfg.Width))
	e.Uint64(math.Float64bits(x.width))
	e.Uint64(uint64(x.measured))
	e.Uint64(x.cfg.Seed)
}

func (x *Index) saveTables(e *index.Encoder) {
	if x.tables == nil {
		e.Uint8(0)
	} else {
		e.Uint8(1)
	}
	for _, t := range x.tables {
		e.Float32s(t.a)
		for j := range t.b {
			e.Uint64(math.Float64bits(t.b[j]))
			e.Uint64(t.mult[j])
		}
		e.Uint64(uint64(len(t.buckets)))
		for _, k := range slices.Sorted(maps.Keys(t.buckets)) {
			e.Uint64(k)
			e.Uint64(uint64(len(t.buckets[k])))
			e.Uint32s(t.buckets[k])
		}
	}
	x.pending.Save(e)
}

func load(h index.Header, d *index.Decoder) (index.Index, error) {
	if err := vecstore.CheckVersion(h, "lsh", kindVersion); err != nil {
		return nil, err
	}
	c := Config{Family: Family(d.String()), Tables: int(d.Uint32()), Hashes: int(d.Uint32()), Probes: int(d.Uint32()),
		Width: math.Float64frombits(d.Uint64())}
	width := math.Float64frombits(d.Uint64())
	measured := d.Uint64()
	c.Seed = d.Uint64()
	if err := d.Err(); err != nil {
		return nil, err
	}
	if c.Tables < 1 || c.Tables > 1<<12 || c.Hashes < 1 || !(c.Width >= 0) || !(width >= 0) || math.IsInf(width, 1) {
		return nil, fmt.Errorf("%w: %d tables of %d functions of width %g", index.ErrFormat, c.Tables, c.Hashes, width)
	}
	x, err := New(h.Dim, h.Metric, c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", index.ErrFormat, err)
	}
	x.width, x.measured = width, int(min(measured, math.MaxInt32))
	if err := x.base.Load(d, h, x.loadTables); err != nil {
		return nil, err
	}
	return x, x.check()
}

// loadTables reads what saveTables wrote.
func (x *Index) loadTables(d *index.Decoder) {
	if d.Uint8() == 1 {
		for range x.cfg.Tables {
			x.tables = append(x.tables, x.loadTable(d))
		}
	}
	x.pending = vecstore.LoadLists(d, &x.base.S)
}

// loadTable reads a table Save wrote.
func (x *Index) loadTable(d *index.Decoder) *table {
	dim, hashes := x.base.S.Dim(), x.cfg.Hashes
	t := &table{a: d.Float32s(hashes * dim), buckets: map[uint64][]uint32{}}
	if x.cfg.Family != Hyperplane {
		t.b, t.mult = make([]float64, hashes), make([]uint64, hashes)
		for j := range t.b {
			t.b[j], t.mult[j] = math.Float64frombits(d.Uint64()), d.Uint64()
		}
	}
	n := d.Uint64()
	if n > uint64(x.base.S.Slots()) {
		d.Fail("%d buckets for %d slots", n, x.base.S.Slots())
	}
	for range int(n) {
		k, size := d.Uint64(), d.Uint64()
		if size > uint64(x.base.S.Slots()) {
			d.Fail("a bucket of %d slots", size)
		}
		if d.Err() != nil {
			return t
		}
		t.buckets[k] = x.base.S.LoadSlots(d, int(size))
	}
	if d.Err() == nil {
		t.norms(dim)
	}
	return t
}

// check returns an error wrapping index.ErrFormat unless every stored
// vector is in one bucket of every table, or not yet hashed, and the
// functions are finite. (Which bucket is not checked: that would take as
// long as hashing every vector again.)
func (x *Index) check() error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", index.ErrFormat, fmt.Sprintf(format, args...))
	}
	switch {
	case len(x.pending.L) != 1:
		return fail("%d lists of vectors not yet hashed, want 1", len(x.pending.L))
	case x.tables == nil && x.base.S.Len() > 0, x.hashing() && len(x.pending.L[0]) > 0:
		return fail("the hashed vectors and the tables disagree")
	}
	count := make([]int, x.base.S.Slots())
	for j, t := range x.tables {
		if err := index.CheckVector(fmt.Sprint("table ", j), t.a, index.Euclidean); err != nil {
			return fail("%v", err)
		}
		clear(count)
		for _, b := range t.buckets {
			for _, i := range b {
				count[i]++
			}
		}
		for i, n := range count {
			if want := x.pending.Of(uint32(i)) < 0 && x.base.S.Live(uint32(i)); n != 1 && want || n != 0 && !want {
				return fail("slot %d is in %d buckets of table %d", i, n, j)
			}
		}
	}
	return nil
}
