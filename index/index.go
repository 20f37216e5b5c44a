package index

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Errors returned by Add, and by Load for a saved vector that breaks them.
var (
	// ErrDimension: a vector's length differs from the index's dimension,
	// or is 0.
	ErrDimension = errors.New("vector dimension mismatch")
	// ErrValue: a vector holds a NaN or an infinity, which have no
	// distance, or a value its metric refuses (see CheckVector).
	ErrValue = errors.New("vector value not valid")
	// ErrKey: the key is empty.
	ErrKey = errors.New("empty key")
)

// Hit is one result of a search.
type Hit struct {
	Key string
	// Distance is the index's Metric's Distance to the query.
	Distance float64
	// Meta is what was stored with the vector.
	Meta any
}

// Filter accepts the stored vectors a search may return, given their key
// and meta. It is called during the search, with the index's lock held: it
// must not call the index's methods.
type Filter func(key string, meta any) bool

// Index is a similarity index of float32 vectors of one dimension, each
// under a unique string key with an opaque meta value, under one Metric.
//
// Every Index is safe for concurrent use, and searches run while vectors
// are added (an index may make them wait for each other, as Exact does).
// Exact is the reference: it returns the true nearest vectors, and every
// other index is tested against it.
type Index interface {
	// Kind returns the name the index's family registered (Register).
	Kind() string
	// Metric returns the metric the index measures distances with.
	Metric() Metric
	// Dim returns the length of the vectors, 0 before the first Add of an
	// index made without one; it does not change afterwards.
	Dim() int
	// Len returns the number of vectors stored.
	Len() int
	// Add stores a copy of v with meta under key, replacing what the key
	// held. It returns an error wrapping ErrKey for an empty key, ErrValue
	// for a value that is not finite or that the metric refuses, and
	// ErrDimension for a vector of another length than the index's; the
	// index is then unchanged.
	Add(key string, v []float32, meta any) error
	// Delete removes key and reports whether it was there.
	Delete(key string) bool
	// Get returns a copy of the vector stored under key and its meta.
	Get(key string) (v []float32, meta any, ok bool)
	// Search returns the k vectors nearest to q among those filter accepts
	// (all when filter is nil), nearest first, equal distances by key. It
	// returns fewer when fewer are accepted (or, from an approximate
	// index, found), and none when k < 1 or q has another dimension than
	// the index or a value CheckVector refuses.
	Search(q []float32, k int, filter Filter) []Hit
	// Range returns the vectors within radius of q (distance ≤ radius)
	// that filter accepts, nearest first, equal distances by key; none for
	// a q that Search refuses.
	Range(q []float32, radius float64, filter Filter) []Hit
	// Save writes the index in its versioned format (see Load).
	Save(w io.Writer) error
}

// BatchSearcher is implemented by an index that answers many queries in
// one call at a lower cost per query than a Search each: HNSW takes its
// lock and its scratch space once, and puts all the answers in one
// allocation. A search service that fans a request out into many queries
// calls it through SearchAll.
type BatchSearcher interface {
	// SearchBatch returns, for each query in turn, what Search(q, k,
	// filter) returns for it. The index's writers (Delete, Save) may wait
	// for the whole batch.
	SearchBatch(queries [][]float32, k int, filter Filter) [][]Hit
}

// SearchAll returns x.Search(q, k, filter) for each of queries: through
// SearchBatch where x implements it, else one Search per query.
func SearchAll(x Index, queries [][]float32, k int, filter Filter) [][]Hit {
	if b, ok := x.(BatchSearcher); ok {
		return b.SearchBatch(queries, k, filter)
	}
	out := make([][]Hit, len(queries))
	for i, q := range queries {
		out[i] = x.Search(q, k, filter)
	}
	return out
}

// Tuner is implemented by an index whose search has parameters that can
// change after it is built (HNSW's ef), as its Kind's Params name them.
type Tuner interface {
	SetParam(name, value string) error
}

// Adjusted is a parameter whose value in use differs from the value the
// index was given: capped at what its vectors allow, raised to what a
// search needs, or measured on the data.
type Adjusted struct {
	Name  string `json:"name"`
	Given string `json:"given"`
	Used  string `json:"used"`
	Why   string `json:"why"`
}

// Adjuster is implemented by an index that may use other values than those
// of some parameters it was given (IVF's nlist, HNSW's ef, LSH's width), so
// that a benchmark reports what it measured. Adjusted returns those
// parameters, as a search for k neighbours uses them now.
type Adjuster interface {
	Adjusted(k int) []Adjusted
}

// Param is one parameter of a Kind of index.
type Param struct {
	Name, Default, Doc string
	// Search says the parameter changes searches only: Tuner.SetParam sets
	// it on a built index. Other parameters are given to Kind.New.
	Search bool
	// Values lists the values of a parameter that takes one of a few
	// names (nil: any value New parses), as Canonical spells them.
	Values []string
}

// Kind is a family of indexes, registered by name so that the command line
// and Load can make one.
type Kind struct {
	Name, Doc string
	Params    []Param
	// New returns an empty index of vectors of dim values (0 leaves it to
	// the first Add) under m. params holds a value for every Param that is
	// not a search parameter (the default where none was given), as text;
	// an error names the parameter.
	New func(dim int, m Metric, params map[string]string) (Index, error)
	// Fits, when set, returns an error naming a parameter of params (as
	// New takes them) whose value cannot mean anything for an index of n
	// vectors (IVF's nlist above n), so that a caller who knows n refuses
	// it before building.
	Fits func(n int, params map[string]string) error
	// Load reads the body of a saved index of this kind: what its Save
	// wrote after the header (see Encoder).
	Load func(h Header, d *Decoder) (Index, error)
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
)

// Register makes a kind of index known by its name. It panics when the
// name is taken or New or Load is missing: it is called from init.
func Register(k Kind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, ok := kinds[k.Name]; ok || k.Name == "" || k.New == nil || k.Load == nil {
		panic(fmt.Sprintf("index.Register(%q): empty or taken name, or no New or Load", k.Name))
	}
	kinds[k.Name] = k
}

// KindNamed returns the registered kind called name, in any case ("HNSW"),
// or an error listing the registered names.
func KindNamed(name string) (Kind, error) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	if k, ok := kinds[name]; ok {
		return k, nil
	}
	for _, k := range kinds {
		if strings.EqualFold(k.Name, name) {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("unknown index %q (registered: %s)", name, strings.Join(kindNames(), ", "))
}

// KindNames returns the names of the registered kinds, sorted.
func KindNames() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	return kindNames()
}

func kindNames() []string {
	return slices.Sorted(maps.Keys(kinds))
}

// Param returns the kind's parameter called name, or an error listing them.
func (k Kind) Param(name string) (Param, error) {
	for _, p := range k.Params {
		if p.Name == name {
			return p, nil
		}
	}
	names := make([]string, len(k.Params))
	for i, p := range k.Params {
		names[i] = p.Name
	}
	if len(names) == 0 {
		return Param{}, fmt.Errorf("index %s takes no parameters, not %q", k.Name, name)
	}
	return Param{}, fmt.Errorf("index %s has no parameter %q (it has %s)", k.Name, name, strings.Join(names, ", "))
}

// Canonical returns name and value spelled as k spells them (Param.Name,
// Param.Values), matched in any case: what a user types ("EF", "m",
// "family=HYPERPLANE"). A name k does not have, or a value not listed,
// comes back as given, for Param or New to refuse.
func (k Kind) Canonical(name, value string) (string, string) {
	for _, p := range k.Params {
		if !strings.EqualFold(p.Name, name) {
			continue
		}
		for _, v := range p.Values {
			if strings.EqualFold(v, value) {
				return p.Name, v
			}
		}
		return p.Name, value
	}
	return name, value
}

// BuildParams returns the values of k's non-search parameters from given
// (name to value), defaults filled in, for New. A name k does not have is
// an error; search parameters in given are left out.
func (k Kind) BuildParams(given map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range k.Params {
		if !p.Search {
			out[p.Name] = p.Default
		}
	}
	for name, v := range given {
		p, err := k.Param(name)
		if err != nil {
			return nil, err
		}
		if !p.Search {
			out[name] = v
		}
	}
	return out, nil
}

// CheckAdd returns the error Index.Add returns for key and v in an index of
// vectors of dim values (0: any length but 0) under m, or nil.
func CheckAdd(key string, v []float32, dim int, m Metric) error {
	switch {
	case key == "":
		return ErrKey
	case len(v) == 0:
		return fmt.Errorf("%w: vector for key %q is empty", ErrDimension, key)
	case dim != 0 && len(v) != dim:
		return fmt.Errorf("%w: vector for key %q has %d dimensions, the index holds %d", ErrDimension, key, len(v), dim)
	}
	return CheckVector(key, v, m)
}

// CheckQuery reports whether q may be searched in an index of dimension
// dim under m: the same length, and a vector CheckVector accepts.
func CheckQuery(q []float32, dim int, m Metric) bool {
	return len(q) == dim && dim > 0 && CheckVector("", q, m) == nil
}

// SortHits orders hits by distance, then key, as every Search returns them.
// Up to 32 hits (a usual k) are sorted by insertion, with no call per
// comparison, and in as many steps as there are hits when they come nearly
// in order (an approximate index's, ordered by its float32 ranks).
func SortHits(h []Hit) {
	if len(h) > 32 {
		slices.SortFunc(h, cmpHit)
		return
	}
	for i := 1; i < len(h); i++ {
		for j := i; j > 0; j-- {
			a, b := &h[j-1], &h[j]
			if a.Distance < b.Distance || a.Distance == b.Distance && a.Key <= b.Key {
				break
			}
			*a, *b = *b, *a
		}
	}
}

// cmpHit orders hits by distance, then key.
func cmpHit(a, b Hit) int {
	if a.Distance != b.Distance {
		if a.Distance < b.Distance {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Key, b.Key)
}
