// Package hnsw is a Hierarchical Navigable Small World graph (Malkov and
// Yashunin, "Efficient and robust approximate nearest neighbor search using
// Hierarchical Navigable Small World graphs", IEEE TPAMI 2018): an
// approximate k-nearest-neighbour index.Index for any index.Metric.
//
// Each vector is a node on layer 0 and, with probability 1/M per layer,
// on the layers above; a search descends greedily from the top layer's
// entry point and explores layer 0 best-first with a queue of ef
// candidates. Insertion links a node to the neighbours the paper's
// heuristic selects (Algorithm 4: a candidate is kept only if it is nearer
// to the node than to every neighbour kept so far), at most M per layer
// above 0 and 2M on layer 0, as hnswlib does.
//
// Deletion marks the node deleted at once (searches pass through it but
// never return it); Compact, which Delete runs when deleted nodes reach an
// eighth of the index, repairs every list that links to a deleted node by
// choosing its neighbours again among its live neighbours and theirs, and
// frees the deleted nodes' slots for new vectors.
package hnsw

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/vecstore"
)

// Options are an index's parameters; zero fields take the defaults.
type Options struct {
	// M is the number of neighbours a node keeps on each layer above 0
	// (2M on layer 0). Default 16; at least 2.
	M int
	// EfConstruction is the number of candidates an insertion gathers on
	// each layer before choosing the node's neighbours. Default 200.
	EfConstruction int
	// Ef is the number of candidates a search keeps (at least k); larger
	// finds more of the true neighbours, slower. Default 64; SetEf changes
	// it.
	Ef int
	// Seed seeds the draw of the nodes' layers: the same vectors added in
	// the same order from one goroutine give the same graph.
	Seed uint64
	// Capacity is how many vectors to make room for at once, when the
	// dimension is given (the index grows as needed; see Reserve).
	Capacity int
}

const (
	defaultM   = 16
	defaultEfC = 200
	defaultEf  = 64
	// maxLevel bounds the layers (a node reaches layer 16 with
	// probability M^-16).
	maxLevel = 16
	// noEntry is the entry point of an empty graph.
	noEntry = math.MaxUint64
	// lockStripes is the number of mutexes that serialise changes to
	// the nodes' lists (node id modulo lockStripes).
	lockStripes = 1024
)

// Slot states.
const (
	free uint8 = iota // no vector: never linked to
	live              // a vector under its key
	dead              // deleted: still linked to until Compact
)

// Index is an HNSW graph. It is safe for concurrent use: searches and
// additions run in parallel (each addition locks only the lists it
// changes, and searches read the lists with atomic loads, so a search may
// see a list in the middle of a change, which costs it nothing); Delete,
// Compact and Save wait for them and hold them off.
type Index struct {
	metric      index.Metric
	rank        func(a, b []float32) float32
	ranks       index.RanksFunc              // rank's, for a node's neighbours at once
	dist        func(a, b []float32) float64 // metric.Distance, for the hits
	m, m0, efc  int
	levelFactor float64 // 1/ln M
	seed        uint64
	ef          atomic.Int64
	live        atomic.Int64

	// mu is held for reading by searches and additions, and for writing
	// to grow the storage, delete, compact and save.
	mu  sync.RWMutex
	dim int
	// Storage by slot; len is the capacity, used counts the slots taken.
	// Slot s's layer-0 list and vector are one block of nodes, stride
	// values long: the count, m0 ids, then the vector's dim float32 (as
	// hnswlib lays them out), so that the list of a node whose distance a
	// search just measured is in the cache when the search expands it.
	nodes  []uint32
	stride int
	// vecs is nodes from slot 0's vector on, as float32: slot s's vector
	// is the dim values from s·stride.
	vecs  []float32
	upper [][]uint32
	// upper[s] holds slot s's lists on layers 1..level, m+1 values each
	// (count, then m ids); nil for a node on layer 0 only.
	keys  []string
	meta  []any
	state []uint8
	used  int

	// alloc serialises taking a slot and the key map, under mu.RLock.
	alloc sync.Mutex
	pos   map[string]uint32
	freed []uint32 // free slots below used
	dead  int
	src   *rand.PCG // the layer draws' source, saved with the index
	rng   *rand.Rand

	entry   atomic.Uint64 // slot<<8 | level of the top layer's entry point, or noEntry
	entryMu sync.Mutex    // raising the entry point
	stripes [lockStripes]sync.Mutex
	// pool holds *searcher. It is allocated on its own: the runtime
	// keeps every sync.Pool reachable until two collections after its
	// last use, and one inside Index would keep a dropped index's memory
	// that long.
	pool *sync.Pool
}

var (
	_ index.Index         = (*Index)(nil)
	_ index.BatchSearcher = (*Index)(nil)
	_ index.Adjuster      = (*Index)(nil)
)

// New returns an empty index of vectors of dim values (0 leaves it to the
// first Add) under metric m.
func New(dim int, m index.Metric, o Options) (*Index, error) {
	switch {
	case o.M == 0:
		o.M = defaultM
	case o.M < 2 || o.M > 1<<16:
		return nil, fmt.Errorf("hnsw: M is %d; it must be from 2 to 65536", o.M)
	}
	if o.EfConstruction == 0 {
		o.EfConstruction = defaultEfC
	}
	if o.Ef == 0 {
		o.Ef = defaultEf
	}
	if o.EfConstruction < 1 || o.Ef < 1 || o.Capacity < 0 || dim < 0 {
		return nil, fmt.Errorf("hnsw: efConstruction %d, ef %d, capacity %d and dimension %d may not be negative",
			o.EfConstruction, o.Ef, o.Capacity, dim)
	}
	x := &Index{
		metric: m, rank: m.RankFuncFor(dim), ranks: m.RanksFuncFor(dim), dist: m.DistanceFuncFor(dim),
		m: o.M, m0: 2 * o.M, efc: o.EfConstruction,
		levelFactor: 1 / math.Log(float64(o.M)),
		seed:        o.Seed,
		dim:         dim,
		pos:         map[string]uint32{},
		src:         rand.NewPCG(o.Seed, 0x68_6e_73_77),
		pool:        &sync.Pool{},
	}
	x.rng = rand.New(x.src)
	x.ef.Store(int64(o.Ef))
	x.entry.Store(noEntry)
	if dim > 0 {
		x.growTo(o.Capacity)
	}
	return x, nil
}

// Kind is the "hnsw" kind of index.Register.
var Kind = index.Kind{
	Name: "hnsw",
	Doc:  "hierarchical navigable small world graph (Malkov and Yashunin 2018)",
	Params: []index.Param{
		{Name: "M", Default: strconv.Itoa(defaultM), Doc: "neighbours per node on layers above 0 (2M on layer 0)"},
		{Name: "efConstruction", Default: strconv.Itoa(defaultEfC), Doc: "candidates gathered per layer when inserting"},
		{Name: "ef", Default: strconv.Itoa(defaultEf), Doc: "candidates kept by a search (at least k)", Search: true},
		{Name: "seed", Default: "1", Doc: "seed of the layer draws"},
	},
	New: func(dim int, m index.Metric, p map[string]string) (index.Index, error) {
		var o Options
		err := vecstore.Ints(p, &o.Seed, vecstore.IntParam{Name: "M", To: &o.M, Lo: 2, Hi: 1 << 16},
			vecstore.IntParam{Name: "efConstruction", To: &o.EfConstruction, Lo: 1, Hi: math.MaxInt32})
		if err != nil {
			return nil, err
		}
		return New(dim, m, o)
	},
	Load: load,
}

func init() { index.Register(Kind) }

// Kind returns "hnsw".
func (x *Index) Kind() string { return Kind.Name }

// Metric returns the index's metric.
func (x *Index) Metric() index.Metric { return x.metric }

// Dim returns the length of the vectors, 0 before the first Add of an
// index made without one.
func (x *Index) Dim() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.dim
}

// Len returns the number of vectors (deleted ones not counted).
func (x *Index) Len() int { return int(x.live.Load()) }

// SetEf sets the number of candidates searches keep (at least 1).
func (x *Index) SetEf(ef int) { x.ef.Store(int64(max(ef, 1))) }

// Ef returns the number of candidates searches keep.
func (x *Index) Ef() int { return int(x.ef.Load()) }

// Adjusted reports an ef below k: a search for k neighbours keeps k
// candidates, as hnswlib's does (index.Adjuster).
func (x *Index) Adjusted(k int) []index.Adjusted {
	if ef := x.Ef(); ef < k {
		return []index.Adjusted{{Name: "ef", Given: strconv.Itoa(ef), Used: strconv.Itoa(k),
			Why: "a search keeps at least k candidates"}}
	}
	return nil
}

// SetParam sets the search parameter ef (index.Tuner).
func (x *Index) SetParam(name, value string) error {
	ef, err := vecstore.SearchParam(Kind, name, value, "ef", 1)
	if err == nil {
		x.SetEf(ef)
	}
	return err
}

// Get returns a copy of the vector stored under key and its meta.
func (x *Index) Get(key string) (v []float32, meta any, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.alloc.Lock()
	defer x.alloc.Unlock()
	s, ok := x.pos[key]
	if !ok {
		return nil, nil, false
	}
	return append([]float32(nil), x.vec(s)...), x.meta[s], true
}

// vec returns slot s's vector.
func (x *Index) vec(s uint32) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(&x.nodes[int(s)*x.stride+1+x.m0])), x.dim)
}

// block returns slot s's block (see Index.nodes) as float32, to prefetch.
func (x *Index) block(s uint32) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(&x.nodes[int(s)*x.stride])), x.stride)
}

// Reserve makes room for n vectors more than the index holds at once, as
// hnswlib's max_elements does; an index that grows as vectors come may hold
// up to twice the room it needs.
func (x *Index) Reserve(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.dim > 0 {
		x.growTo(x.used + n)
	}
}

// growTo makes room for c slots; mu is held for writing (or the index is
// not shared yet).
func (x *Index) growTo(c int) {
	n := c - len(x.keys)
	if n <= 0 {
		return
	}
	x.stride = 1 + x.m0 + x.dim
	x.nodes = append(x.nodes, make([]uint32, n*x.stride)...)
	x.vecs = unsafe.Slice((*float32)(unsafe.Pointer(&x.nodes[1+x.m0])), len(x.nodes)-1-x.m0)
	x.upper = append(x.upper, make([][]uint32, n)...)
	x.meta = append(x.meta, make([]any, n)...)
	x.state = append(x.state, make([]uint8, n)...)
	x.keys = append(x.keys, make([]string, n)...)
}

// Add stores a copy of v with meta under key (see index.Index.Add). A key
// that is stored already is deleted first and added again.
func (x *Index) Add(key string, v []float32, meta any) error {
	if err := index.CheckAdd(key, v, 0, x.metric); err != nil {
		return err
	}
	for {
		x.mu.RLock()
		s, retry, err := x.take(key, v, meta)
		if err != nil || retry != nil {
			x.mu.RUnlock()
			if err != nil {
				return err
			}
			x.mu.Lock()
			retry()
			x.mu.Unlock()
			continue
		}
		if s != noSlot {
			x.insert(s)
		}
		x.mu.RUnlock()
		return nil
	}
}

const noSlot = math.MaxUint32

// take stores v and meta under key in a free slot and returns it, or
// noSlot when the slot needs no links (the first node); mu is held for
// reading. When that cannot be done under a read lock (the dimension is
// not set yet, the key is stored already, no slot is free) it returns what
// to do under the write lock before trying again.
func (x *Index) take(key string, v []float32, meta any) (slot uint32, retry func(), err error) {
	x.alloc.Lock()
	defer x.alloc.Unlock()
	if old, ok := x.pos[key]; ok {
		return 0, func() {
			if s, ok := x.pos[key]; ok && s == old {
				x.remove(key, s)
			}
		}, nil
	}
	switch {
	case x.dim == 0:
		return 0, func() {
			if x.dim == 0 {
				x.dim, x.rank, x.ranks, x.dist = len(v), x.metric.RankFuncFor(len(v)), x.metric.RanksFuncFor(len(v)), x.metric.DistanceFuncFor(len(v))
			}
		}, nil
	case len(v) != x.dim:
		return 0, nil, index.CheckAdd(key, v, x.dim, x.metric)
	case len(x.freed) == 0 && x.used == len(x.keys):
		return 0, func() {
			if x.used == len(x.keys) {
				x.growTo(max(2*len(x.keys), 1024))
			}
		}, nil
	}
	var s uint32
	if n := len(x.freed); n > 0 {
		s, x.freed = x.freed[n-1], x.freed[:n-1]
	} else {
		s = uint32(x.used)
		x.used++
	}
	level := min(int(-math.Log(1-x.rng.Float64())*x.levelFactor), maxLevel)
	copy(x.vec(s), v)
	x.keys[s], x.meta[s], x.state[s] = key, meta, live
	x.nodes[int(s)*x.stride] = 0
	x.upper[s] = nil
	if level > 0 {
		x.upper[s] = make([]uint32, level*(x.m+1))
	}
	x.pos[key] = s
	x.live.Add(1)
	if x.entry.Load() == noEntry {
		x.entry.Store(pack(s, level))
		return noSlot, nil, nil
	}
	return s, nil, nil
}

func pack(s uint32, level int) uint64 { return uint64(s)<<8 | uint64(level) }

func unpack(e uint64) (uint32, int) { return uint32(e >> 8), int(e & 0xff) }

// level returns slot s's top layer.
func (x *Index) level(s uint32) int { return len(x.upper[s]) / (x.m + 1) }

// list returns slot s's list on layer l: its count, then its capacity of
// ids. Read its values with atomic loads and change them under s's stripe
// lock with atomic stores.
func (x *Index) list(s uint32, l int) []uint32 {
	if l == 0 {
		i := int(s) * x.stride
		return x.nodes[i : i+x.m0+1 : i+x.m0+1]
	}
	return x.upper[s][(l-1)*(x.m+1) : l*(x.m+1)]
}

// Delete removes key and reports whether it was there. Its node stays in
// the graph, marked deleted, until Compact; Delete runs Compact when the
// deleted nodes reach an eighth of the live ones.
func (x *Index) Delete(key string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	s, ok := x.pos[key]
	if !ok {
		return false
	}
	x.remove(key, s)
	if x.dead > 64 && x.dead >= int(x.live.Load())/8 {
		x.compact()
	}
	return true
}

// remove marks slot s, which holds key, deleted; mu is held for writing.
func (x *Index) remove(key string, s uint32) {
	delete(x.pos, key)
	x.state[s], x.keys[s], x.meta[s] = dead, "", nil
	x.dead++
	x.live.Add(-1)
}
