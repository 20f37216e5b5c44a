// Package ivf is an inverted file index (IVF; Sivic and Zisserman 2003,
// Jégou, Douze and Schmid 2011): a k-means coarse quantiser splits the
// vectors into nlist lists, each those nearest to one centre, and a search
// measures the vectors of the nprobe lists whose centres are nearest to the
// query. nprobe trades recall for speed; searching every list is exact.
//
// The quantiser is trained on the vectors themselves, as they are added:
// the first minTrain are searched by scanning, then k-means runs over
// them, and again each time the index has doubled since (on a sample of up
// to 256 vectors per list, as faiss does), so the lists follow the data.
// Between trainings each new vector joins its nearest centre's list.
//
// The index registers as "ivf" (index.Register) with parameters nlist,
// nprobe, iters and seed; see Kind.
package ivf

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/index/internal/kmeans"
	"github.com/ctrecon/ctrecon/index/internal/vecstore"
)

// Training: the vectors an index holds before its first training, the
// sample per list k-means runs on, and the fewest vectors per list on
// average (nlist is cut down for fewer).
const (
	minTrain    = 256
	samplePer   = 256
	minPerList  = 8
	kindVersion = 1
)

// Index is an IVF index. It is safe for concurrent use: searches run in
// parallel with each other and wait for changes (an Add that trains waits
// for k-means).
type Index struct {
	vecstore.Basics // Metric, Dim, Len, Get, Add, Delete, Search, Range
	base            vecstore.Base
	cfg             Config
	// centres holds one centre per list (len(lists.L)−1 of them, dim
	// values each); the last list holds the vectors added before the
	// first training.
	centres []float32
	lists   vecstore.Lists
	trained int // Len at the last training, 0 before the first
}

// Config are an index's parameters.
type Config struct {
	// NList is the number of lists; 0 trains √n lists for n vectors.
	NList int
	// NProbe is the number of lists a search measures.
	NProbe int
	// Iters bounds k-means' rounds.
	Iters int
	// Seed seeds k-means.
	Seed uint64
}

// DefaultConfig is what Kind's parameters default to.
func DefaultConfig() Config { return Config{NList: 0, NProbe: 8, Iters: 16, Seed: 1} }

// Kind is the "ivf" kind of index.Register.
var Kind = index.Kind{
	Name: "ivf",
	Doc:  "inverted file: k-means lists, a search measures the nprobe lists nearest to the query",
	Params: []index.Param{
		{Name: "nlist", Default: "0", Doc: "number of k-means lists; 0 for √n"},
		{Name: "nprobe", Default: "8", Doc: "lists measured per search", Search: true},
		{Name: "iters", Default: "16", Doc: "k-means rounds per training"},
		{Name: "seed", Default: "1", Doc: "random seed of k-means"},
	},
	New: func(dim int, m index.Metric, p map[string]string) (index.Index, error) {
		if err := index.NeedBuiltin("ivf", "averages vectors (k-means centres)", m); err != nil {
			return nil, err
		}
		c := DefaultConfig()
		err := vecstore.Ints(p, &c.Seed, vecstore.IntParam{Name: "nlist", To: &c.NList, Lo: 0, Hi: 1 << 24},
			vecstore.IntParam{Name: "iters", To: &c.Iters, Lo: 1, Hi: 1000})
		if err != nil {
			return nil, err
		}
		return New(dim, m, c), nil
	},
	Fits: fits,
	Load: load,
}

// fits refuses an nlist above the n vectors to index: k-means cannot make
// more lists than vectors (faiss refuses to train them).
func fits(n int, p map[string]string) error {
	nlist, err := vecstore.Int(p, "nlist", 0, 1<<24)
	if err == nil && nlist > n {
		err = fmt.Errorf("parameter nlist is %d, more than the %d vectors to index (k-means cannot make more lists than vectors)", nlist, n)
	}
	return err
}

func init() { index.Register(Kind) }

var (
	_ index.Index    = (*Index)(nil)
	_ index.Tuner    = (*Index)(nil)
	_ index.Adjuster = (*Index)(nil)
)

// New returns an empty index of vectors of dim values (0: set by the first
// Add) under m. Zero NProbe and Iters take DefaultConfig's.
func New(dim int, m index.Metric, c Config) *Index {
	d := DefaultConfig()
	c.NProbe = vecstore.OrDefault(c.NProbe, d.NProbe)
	c.Iters = vecstore.OrDefault(c.Iters, d.Iters)
	x := &Index{base: vecstore.NewBase(dim, m), cfg: c}
	x.Basics = x.base.Basics(x.insert, x.remove, x.collect)
	x.lists.New()
	return x
}

// Kind returns "ivf".
func (x *Index) Kind() string { return Kind.Name }

// Lists returns the number of k-means lists, 0 before the first training.
func (x *Index) Lists() int {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	return len(x.lists.L) - 1
}

// Scans reports whether every search scans all the vectors: fewer than
// minTrain, the quantiser is not trained.
func (x *Index) Scans() bool {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	return x.base.S.Len() > 0 && len(x.lists.L) == 1
}

// Adjusted reports the lists the quantiser made where they are not the
// nlist given (0: √n; at most n/minPerList for the n vectors of the last
// training; none below minTrain vectors), and an nprobe above them
// (index.Adjuster).
func (x *Index) Adjusted(int) []index.Adjusted {
	x.base.Mu.RLock()
	defer x.base.Mu.RUnlock()
	lists := len(x.lists.L) - 1
	given, used := strconv.Itoa(x.cfg.NList), strconv.Itoa(lists)
	var out []index.Adjusted
	switch {
	case lists == 0:
		return []index.Adjusted{{Name: "nlist", Given: given, Used: used,
			Why: fmt.Sprintf("fewer than %d vectors: not trained, every search scans them all", minTrain)},
			{Name: "nprobe", Given: strconv.Itoa(x.cfg.NProbe), Used: "none", Why: "no lists to probe"}}
	case x.cfg.NList == 0:
		out = append(out, index.Adjusted{Name: "nlist", Given: given, Used: used,
			Why: fmt.Sprintf("√n of the %d vectors at the last training", x.trained)})
	case lists != x.cfg.NList:
		out = append(out, index.Adjusted{Name: "nlist", Given: given, Used: used,
			Why: fmt.Sprintf("at most one list per %d of the %d vectors at the last training", minPerList, x.trained)})
	}
	if x.cfg.NProbe > lists {
		out = append(out, index.Adjusted{Name: "nprobe", Given: strconv.Itoa(x.cfg.NProbe), Used: used,
			Why: "no more lists than the quantiser made: every search measures them all (exact)"})
	}
	return out
}

// SetParam sets nprobe, the number of lists a search measures.
func (x *Index) SetParam(name, value string) error {
	return x.base.SetSearchParam(Kind, name, value, "nprobe", 1, &x.cfg.NProbe)
}

// remove takes slot i out of its list.
func (x *Index) remove(i uint32) { x.lists.Remove(i) }

// insert puts slot i into the list of its nearest centre. It trains the
// quantiser when the index reaches minTrain vectors and each time it has
// doubled since.
func (x *Index) insert(i uint32) {
	n := x.base.S.Len()
	if n >= minTrain && n >= 2*x.trained {
		x.train()
		return
	}
	x.lists.Add(x.listOf(x.base.S.Vec(i)), i)
}

// listOf returns the list a vector joins: its nearest centre's, or the
// last before the first training.
func (x *Index) listOf(v []float32) int {
	if len(x.centres) == 0 {
		return 0
	}
	j, _ := kmeans.Nearest(x.centres, x.base.S.Dim(), v, x.base.M.RankFunc())
	return j
}

// train runs k-means over a sample of the stored vectors and deals every
// vector into the list of its nearest centre.
func (x *Index) train() {
	s := &x.base.S
	n, dim := s.Len(), s.Dim()
	nlist := x.cfg.NList
	if nlist == 0 {
		nlist = int(math.Round(math.Sqrt(float64(n))))
	}
	nlist = max(1, min(nlist, n/minPerList))
	rng := rand.New(rand.NewPCG(x.cfg.Seed, uint64(n)))
	live := make([]uint32, 0, n)
	for i := range uint32(s.Slots()) {
		if s.Live(i) {
			live = append(live, i)
		}
	}
	sample := live
	if len(sample) > samplePer*nlist {
		sample = slices.Clone(live)
		rng.Shuffle(len(sample), func(a, b int) { sample[a], sample[b] = sample[b], sample[a] })
		sample = sample[:samplePer*nlist]
	}
	rows := make([]float32, 0, len(sample)*dim)
	for _, i := range sample {
		rows = append(rows, s.Vec(i)...)
	}
	x.centres = kmeans.Train(rows, dim, nlist, x.cfg.Iters, x.base.M, rng)
	x.lists = vecstore.Lists{}
	for range len(x.centres)/dim + 1 {
		x.lists.New()
	}
	for _, i := range live {
		x.lists.Add(x.listOf(s.Vec(i)), i)
	}
	x.trained = n
}

// probe returns the lists a search of q measures: the nprobe whose centres
// are nearest, and the list of untrained vectors.
func (x *Index) probe(q []float32) []int {
	dim := x.base.S.Dim()
	k := len(x.centres) / dim
	if k == 0 {
		return []int{0}
	}
	rank := x.base.M.RankFunc()
	type near struct {
		r float32
		j int
	}
	ns := make([]near, k)
	for j := range k {
		ns[j] = near{rank(q, x.centres[j*dim:(j+1)*dim]), j}
	}
	slices.SortFunc(ns, func(a, b near) int {
		if a.r != b.r {
			if a.r < b.r {
				return -1
			}
			return 1
		}
		return a.j - b.j
	})
	lists := []int{k}
	for _, n := range ns[:min(x.cfg.NProbe, k)] {
		lists = append(lists, n.j)
	}
	return lists
}

// collect offers r the vectors of the nprobe lists nearest to its query
// and of the list of untrained vectors.
func (x *Index) collect(r *vecstore.Results) {
	for _, j := range x.probe(r.Query()) {
		for _, i := range x.lists.L[j] {
			r.Offer(i)
		}
	}
}

// Save writes the index (see index.Load). The body of kind "ivf", version
// 1: nlist, nprobe, iters (uint32 each), seed and the Len at the last
// training (uint64 each), the vectors (vecstore.Store.Save), the number of
// centres c (uint32) and their c·dim values (float32), then the c+1 lists
// (vecstore.Lists.Save), the last holding the vectors added before the
// first training.
func (x *Index) Save(w io.Writer) error {
	return x.base.Save(w, Kind.Name, kindVersion, x.saveConfig, x.saveLists)
}

func (x *Index) saveConfig(e *index.Encoder) {
	e.Uint32(uint32(x.cfg.NList))
	e.Uint32(uint32(x.cfg.NProbe))
	e.Uint32(uint32(x.cfg.Iters))
	e.Uint64(x.cfg.Seed)
	e.Uint64(uint64(x.trained))
}

func (x *Index) saveLists(e *index.Encoder) {
	c := 0
	if dim := x.base.S.Dim(); dim > 0 {
		c = len(x.centres) / dim
	}
	e.Uint32(uint32(c))
	e.Float32s(x.centres)
	x.lists.Save(e)
}

// loadLists reads what saveLists wrote.
func (x *Index) loadLists(d *index.Decoder) {
	dim, slots := x.base.S.Dim(), x.base.S.Slots()
	nc := int(d.Uint32())
	if nc > slots || nc > 0 && dim == 0 {
		d.Fail("%d centres for %d vectors", nc, slots)
		return
	}
	x.centres = d.Float32s(nc * dim)
	x.lists = vecstore.LoadLists(d, &x.base.S)
	if d.Err() == nil && len(x.lists.L) != nc+1 {
		d.Fail("%d lists for %d centres", len(x.lists.L), nc)
	}
}

func load(h index.Header, d *index.Decoder) (index.Index, error) {
	if err := vecstore.CheckVersion(h, "ivf", kindVersion); err != nil {
		return nil, err
	}
	c := Config{NList: int(d.Uint32()), NProbe: int(d.Uint32()), Iters: int(d.Uint32()), Seed: d.Uint64()}
	x := New(h.Dim, h.Metric, c)
	x.trained = int(d.Uint64())
	if err := x.base.Load(d, h, x.loadLists); err != nil {
		return nil, err
	}
	if err := x.lists.Covers(&x.base.S); err != nil {
		return nil, err
	}
	for j := range len(x.centres) / max(h.Dim, 1) {
		if err := index.CheckVector("centre "+strconv.Itoa(j), x.centres[j*h.Dim:(j+1)*h.Dim], index.Euclidean); err != nil {
			return nil, fmt.Errorf("%w: %w", index.ErrFormat, err)
		}
	}
	return x, nil
}
