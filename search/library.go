package search

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctrecon/ctrecon/features/extract"
	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
	sp "github.com/ctrecon/ctrecon/features/spatial"
	"github.com/ctrecon/ctrecon/features/spectral"
	"github.com/ctrecon/ctrecon/index"
	_ "github.com/ctrecon/ctrecon/index/hnsw" // registers "hnsw", the default for large kinds
	"github.com/ctrecon/ctrecon/index/spatial"
	"github.com/ctrecon/ctrecon/material"
)

// Config says how a Library indexes.
type Config struct {
	// Dir holds the working metadata database and the snapshot (Snapshot).
	Dir string
	// Index is the index kind every vector kind gets ("exact", "hnsw", or
	// any index.KindNames name), or "auto" (the default when empty): exact
	// while a kind holds at most SmallKind vectors, HNSW beyond.
	Index string
	// Params are the build parameters of Index (of HNSW under "auto"), by
	// their index.Param names.
	Params map[string]string
	// SmallKind is the most vectors a kind holds in an exact index under
	// "auto" (0: DefaultSmallKind).
	SmallKind int
	// Names names the vector components of kinds whose records do not
	// (records carry none on the bus): kind with version to names, e.g.
	// "radiomics-v1" to the Parquet file's names. Named components can be
	// filtered on and explain hits.
	Names map[string][]string
	// Shard, when set, makes the library one shard of a library split by
	// series: its Follower keeps only the records the shard owns, and
	// ServeNATS answers the shard's subjects (see Shard).
	Shard Shard
	// Log receives the records skipped and the indexes rebuilt (nil:
	// slog.Default()). It never receives a patient's pseudonym.
	Log *slog.Logger
}

// DefaultSmallKind is how many vectors a kind holds in an exact index,
// under Config.Index "auto", before it moves to HNSW: an exact search over
// 20,000 vectors of 64 values takes about a millisecond.
const DefaultSmallKind = 20000

// builtinNames names the components of the kinds whose names are fixed.
var builtinNames = map[string][]string{segment.Kind: extract.ObjectNames}

// workerRadiomicsNames names the values of the radiomics records the
// workers publish (extract.DefaultScanSettings), computed once when first
// needed.
var workerRadiomicsNames = sync.OnceValues(func() ([]string, error) {
	return extract.RadiomicsNames(extract.DefaultScanSettings().Radiomics)
})

// Library is the searchable library: every record's metadata in SQLite,
// each kind's vectors in a vector index and the virtual images in spatial
// indexes. Searches run concurrently with Add.
type Library struct {
	cfg   Config
	log   *slog.Logger
	store *store

	addMu sync.Mutex // one Add or Snapshot at a time

	mu      sync.RWMutex
	vectors map[string]*vectorKind
	images  map[string]*spatial.Index
	known   map[string]bool // the kinds with records
	seq     uint64          // the stream sequence of the last record added
	snapAt  time.Time       // when the snapshot loaded or written was written; zero if none

	metrics *Metrics
	// scanMax is the most records a filter may keep for a similarity
	// query to measure them one by one rather than search the index.
	scanMax int
}

// vectorKind is one kind's vector index and its components' names.
type vectorKind struct {
	ix    index.Index
	names []string // len == dim, "" where unnamed
}

// Open opens the library in cfg.Dir: from its snapshot, when it has one
// (Library.Seq then says from where to replay), else empty.
func Open(ctx context.Context, cfg Config) (*Library, error) {
	if cfg.Index == "" {
		cfg.Index = "auto"
	}
	if cfg.SmallKind <= 0 {
		cfg.SmallKind = DefaultSmallKind
	}
	if err := cfg.Shard.check(); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if cfg.Index != "auto" {
		if _, err := index.KindNamed(cfg.Index); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	l := &Library{cfg: cfg, log: cfg.Log, vectors: map[string]*vectorKind{}, images: map[string]*spatial.Index{}, metrics: newMetrics(), scanMax: 2000, known: map[string]bool{}}
	if err := l.load(ctx); err != nil {
		return nil, err
	}
	kinds, err := l.store.kinds(ctx)
	if err != nil {
		l.store.close()
		return nil, fmt.Errorf("search: %w", err)
	}
	for k := range kinds {
		l.known[k] = true
	}
	return l, nil
}

// Close closes the metadata database.
func (l *Library) Close() error { return l.store.close() }

// Seq returns the stream sequence of the last record added: a follower
// replays from the next one.
func (l *Library) Seq() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.seq
}

// Add indexes recs, read from the stream up to sequence seq. A record
// whose values its kind's vector index cannot hold (another length than
// its kind's; see entryOf) is kept for filters without its vector, and
// one the library cannot read at all (a virtual image that does not
// decode) is left out; the returned error names each. The others are
// added. A record replaces the one of the same kind and item.
func (l *Library) Add(ctx context.Context, recs []records.Record, seq uint64) error {
	return l.add(ctx, recs, nil, seq)
}

// add is Add with, for each record a job published, its "<job>/<record>"
// in jobs (nil or "" for none).
func (l *Library) add(ctx context.Context, recs []records.Record, jobs []string, seq uint64) error {
	l.addMu.Lock()
	defer l.addMu.Unlock()
	var errs []error
	es := make([]entry, 0, len(recs))
	dims := map[string]int{}
	for i := range recs {
		e, unindexed, err := l.entryOf(&recs[i], seq, dims)
		if err != nil || unindexed != nil {
			errs = append(errs, fmt.Errorf("%s of %s: %w", recs[i].KindVersion(), ItemOf(&recs[i]), cmp.Or(err, unindexed)))
		}
		if err != nil {
			continue
		}
		if jobs != nil {
			e.job = jobs[i]
		}
		es = append(es, e)
	}
	if err := l.store.put(ctx, es); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for i := range es {
		if es[i].copy {
			l.log.Info("search: skipping another copy of a job's record", "record", es[i].job, "kind", es[i].rec.KindVersion())
			continue
		}
		if err := l.index(ctx, &es[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.mu.Lock()
	l.seq = max(l.seq, seq)
	for i := range es {
		if !es[i].copy {
			l.known[es[i].rec.KindVersion()] = true
		}
	}
	l.mu.Unlock()
	return errors.Join(errs...)
}

// entryOf checks rec against its kind's index and returns what the store
// keeps of it. A record whose values its kind's vector index cannot hold
// (another length, as a job of other bins makes of spectral-v1, or a
// metric histogram's pairs that are no curve) is kept without its vector,
// and unindexed says why: filters find it, similarity does not.
func (l *Library) entryOf(rec *records.Record, seq uint64, dims map[string]int) (e entry, unindexed, err error) {
	kind := rec.KindVersion()
	e = entry{rec: rec, item: ItemOf(rec).String(), seq: seq}
	switch {
	case isImageKind(kind):
		var vi sp.VirtualImage
		if err := json.Unmarshal(rec.Data, &vi); err != nil {
			return e, nil, fmt.Errorf("data is not a virtual image: %w", err)
		}
		if err := vi.Validate(); err != nil {
			return e, nil, err
		}
		e.vi = &vi
		return e, nil, nil
	case len(rec.Values) == 0:
		return e, nil, nil
	}
	if e.vec, err = vectorOf(kind, rec.Values); err == nil {
		err = l.checkVector(kind, e.item, e.vec, dims)
	}
	if err != nil {
		e.vec, unindexed = nil, fmt.Errorf("kept for filters, not for similarity: %w", err)
	}
	names := l.namesOf(kind, len(rec.Values))
	if kind == material.RecordKind {
		if names, err = material.RecordNames(rec.Data, len(rec.Values)); err != nil {
			return e, nil, err
		}
	}
	for i, x := range rec.Values {
		if names[i] != "" && !math.IsNaN(float64(x)) {
			e.values = append(e.values, named{names[i], float64(x)})
		}
	}
	if kind == spectral.Kind {
		e.values, e.bins = spectralValues(rec.Data, e.values)
	}
	return e, unindexed, nil
}

// vectorOf returns what kind's vector index holds of a record's values, or
// of a query's: a metric histogram's DM vector (dmVector), else the values
// with an undefined feature (NaN) as 0, which counts as 0 in distances.
func vectorOf(kind string, values []float32) ([]float32, error) {
	if kind == histogram.KindMetric {
		return dmVector(values)
	}
	v := make([]float32, len(values))
	for i, x := range values {
		if !math.IsNaN(float64(x)) {
			v[i] = x
		}
	}
	return v, nil
}

// isImageKind reports whether kind's records are virtual images.
func isImageKind(kind string) bool { return kind == sp.KindVolume || kind == sp.KindSlice }

// namesOf returns the names of kind's n components, "" where unnamed.
func (l *Library) namesOf(kind string, n int) []string {
	names := l.cfg.Names[kind]
	if names == nil {
		names = builtinNames[kind]
	}
	if names == nil && kind == extract.KindRadiomics {
		var err error
		if names, err = workerRadiomicsNames(); err != nil {
			l.log.Warn("search: radiomics features left unnamed", "err", err)
		}
	}
	out := make([]string, n)
	if len(names) == n {
		copy(out, names)
	}
	return out
}

// spectralValues appends to values what filters compare of a spectral
// signature's data: mean_hu_binN, each bin's mean HU, and enhancement_hu,
// the largest rise of the mean HU from one bin to the next higher one (the
// jump of a contrast agent's K-edge). It returns the bins' energies too.
func spectralValues(data []byte, values []named) ([]named, []energyBin) {
	var sg spectral.Signature
	if json.Unmarshal(data, &sg) != nil || len(sg.Bins) == 0 {
		return values, nil
	}
	bins := make([]energyBin, len(sg.Bins))
	rise := 0.0
	for i, b := range sg.Bins {
		values = append(values, named{"mean_hu_bin" + strconv.Itoa(b.Index), b.MeanHU})
		bins[i] = energyBin{b.Index, b.LowKeV, b.HighKeV}
		if i > 0 {
			rise = max(rise, b.MeanHU-sg.Bins[i-1].MeanHU)
		}
	}
	return append(values, named{"enhancement_hu", rise}), bins
}

// checkVector checks vec against kind's vector index or, while kind has
// none, against the first vector of kind in the batch (dims), whose
// length the index will take.
func (l *Library) checkVector(kind, item string, vec []float32, dims map[string]int) error {
	l.mu.RLock()
	vk := l.vectors[kind]
	l.mu.RUnlock()
	if vk != nil {
		return index.CheckAdd(item, vec, vk.ix.Dim(), vk.ix.Metric())
	}
	if _, ok := dims[kind]; !ok {
		dims[kind] = len(vec)
	}
	return index.CheckAdd(item, vec, dims[kind], metricOf(kind))
}

// index adds a stored entry to its kind's vector or spatial index.
func (l *Library) index(ctx context.Context, e *entry) error {
	kind := e.rec.KindVersion()
	if e.vi != nil {
		return l.imageIndex(kind).Add(e.item, e.vi)
	}
	if e.vec == nil {
		return nil
	}
	vk, err := l.vectorIndex(kind, len(e.vec))
	if err != nil {
		return err
	}
	if err := vk.ix.Add(e.item, e.vec, nil); err != nil {
		return fmt.Errorf("%s of %s: %w", kind, e.item, err)
	}
	if l.cfg.Index == "auto" && vk.ix.Kind() == "exact" && vk.ix.Len() > l.cfg.SmallKind {
		return l.promote(ctx, kind, vk)
	}
	return nil
}

func (l *Library) imageIndex(kind string) *spatial.Index {
	l.mu.Lock()
	defer l.mu.Unlock()
	x, ok := l.images[kind]
	if !ok {
		x = spatial.New()
		l.images[kind] = x
	}
	return x
}

// vectorIndex returns kind's vector index, made for vectors of dim values
// when the kind has none.
func (l *Library) vectorIndex(kind string, dim int) (*vectorKind, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if vk, ok := l.vectors[kind]; ok {
		return vk, nil
	}
	name, metric, params := l.cfg.Index, metricOf(kind), l.cfg.Params
	switch {
	case kind == histogram.KindMetric:
		name, params = dmIndex, nil
	case name == "auto":
		name = "exact"
	}
	ix, err := newIndex(name, dim, metric, params)
	if err != nil {
		return nil, err
	}
	vk := &vectorKind{ix: ix, names: l.namesOf(kind, dim)}
	l.vectors[kind] = vk
	return vk, nil
}

// metricOf returns the metric of kind's vector index: DM for metric
// histograms, else Euclidean.
func metricOf(kind string) index.Metric {
	if kind == histogram.KindMetric {
		return histogram.DMIndexMetric
	}
	return index.Euclidean
}

// newIndex makes an empty index of kind name under metric m with params
// (the ones it does not have are left out, so one map serves "auto").
func newIndex(name string, dim int, m index.Metric, params map[string]string) (index.Index, error) {
	k, err := index.KindNamed(name)
	if err != nil {
		return nil, err
	}
	given := map[string]string{}
	for n, v := range params {
		if _, err := k.Param(n); err == nil {
			given[n] = v
		}
	}
	build, err := k.BuildParams(given)
	if err != nil {
		return nil, err
	}
	ix, err := k.New(dim, m, build)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", name, err)
	}
	return ix, tune(ix, params)
}

// tune sets the search parameters among params that ix has (HNSW's ef):
// on a new index, and on one loaded from a snapshot, which otherwise keeps
// the ones it was saved with.
func tune(ix index.Index, params map[string]string) error {
	t, ok := ix.(index.Tuner)
	if !ok {
		return nil
	}
	k, err := index.KindNamed(ix.Kind())
	if err != nil {
		return err
	}
	for n, v := range params {
		if p, err := k.Param(n); err == nil && p.Search {
			if err := t.SetParam(n, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetSearchParam sets a search parameter of kind's vector index (HNSW's
// ef: more candidates, higher recall, slower) while it serves; a restart
// takes Config.Params'. Errors name the kind or the parameter.
func (l *Library) SetSearchParam(kind, name, value string) error {
	l.mu.RLock()
	vk, ok := l.vectors[kind]
	l.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: kind %q has no vector index", ErrNotFound, kind)
	}
	t, ok := vk.ix.(index.Tuner)
	if !ok {
		return fmt.Errorf("search: the %s index of %s has no search parameters", vk.ix.Kind(), kind)
	}
	return t.SetParam(name, value)
}

// promote moves kind from its exact index to HNSW, built from the stored
// vectors; searches use the exact index until the new one is complete.
func (l *Library) promote(ctx context.Context, kind string, vk *vectorKind) error {
	start := time.Now()
	ix, err := newIndex("hnsw", vk.ix.Dim(), vk.ix.Metric(), l.cfg.Params)
	if err != nil {
		return err
	}
	err = l.store.each(ctx, kind, func(item string, vec []float32, _ []byte) error {
		if vec == nil {
			return nil
		}
		return ix.Add(item, vec, nil)
	})
	if err != nil {
		return fmt.Errorf("moving %s to HNSW: %w", kind, err)
	}
	l.mu.Lock()
	l.vectors[kind] = &vectorKind{ix: ix, names: vk.names}
	l.mu.Unlock()
	l.log.Info("search: kind moved to HNSW", "kind", kind, "vectors", ix.Len(), "seconds", time.Since(start).Seconds())
	return nil
}

// PutScan stores what is known of a scan for the filters (dates, scanner,
// description); energy bins go in with PutBin.
func (l *Library) PutScan(ctx context.Context, s Scan) error { return l.store.putScan(ctx, s) }

// PutBin stores an energy bin's bounds in keV, for the filters kev_low
// and kev_high.
func (l *Library) PutBin(ctx context.Context, scanID string, bin int, lowKeV, highKeV float64) error {
	return l.store.putBin(ctx, scanID, bin, lowKeV, highKeV)
}

// KindInfo describes one kind of the library.
type KindInfo struct {
	Kind    string   `json:"kind"`
	Records int      `json:"records"`
	Index   string   `json:"index"` // the vector or spatial index, or "sqlite" for metadata only
	Vectors int      `json:"vectors"`
	Dim     int      `json:"dim,omitempty"`
	Names   []string `json:"names,omitempty"` // the features filters can name
}

// Kinds describes every kind of record the library holds.
func (l *Library) Kinds(ctx context.Context) ([]KindInfo, error) {
	counts, err := l.store.kinds(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]KindInfo, 0, len(counts))
	for k, n := range counts {
		ki := KindInfo{Kind: k, Records: n, Index: "sqlite", Names: l.store.kindNames(k)}
		if vk, ok := l.vectors[k]; ok {
			ki.Index, ki.Vectors, ki.Dim = vk.ix.Kind(), vk.ix.Len(), vk.ix.Dim()
		} else if x, ok := l.images[k]; ok {
			ki.Index, ki.Vectors = "spatial", x.Len()
		}
		out = append(out, ki)
	}
	slices.SortFunc(out, func(a, b KindInfo) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}

// dbPath is the working metadata database.
func (l *Library) dbPath() string { return filepath.Join(l.cfg.Dir, "library.db") }
