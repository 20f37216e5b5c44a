package search

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ctrecon/ctrecon/features/extract"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/features/segment"
	sp "github.com/ctrecon/ctrecon/features/spatial"
	"github.com/ctrecon/ctrecon/features/spectral"
)

// The fixture: a library of synthetic scans, each one series of bin 0 and
// bin 1, with objects of random classes, and the records the extractor
// publishes of each: objects-v1, radiomics-v1 (named by radNames),
// hist-hu-v1 per bin volume, spectral-v1 per object, vimage-xyz-v1 per
// bin. The tests compare the library's answers with evaluating every
// record in Go.

var (
	radNames = []string{"morph.vol", "stat.mean", "stat.var", "cm.joint_max|3D, averaged", "ih.entropy", "szm.sze"}
	classes  = []string{"bone", "contrast", "soft-tissue", "lipid"}
)

const histDim = 16

func fixtureRecords(nScans int, seed uint64) []records.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []records.Record
	for s := range nScans {
		study, series := fmt.Sprintf("1.2.826.%d", s), fmt.Sprintf("1.2.826.%d.1", s)
		base := records.Record{ScanID: fmt.Sprintf("scan-%03d", s), StudyUID: study, SeriesUID: series, Slice: -1, Settings: "0123456789abcdef"}
		nObj := 1 + rng.IntN(4)
		var objs []sp.Object
		for bin := range 2 {
			b := base
			b.Bin = bin
			hist := records.Vector(randVec(rng, histDim))
			out = append(out, withKind(b, "hist-hu", hist, nil))
			objs = objs[:0]
			for o := 1; o <= nObj; o++ {
				ob := b
				ob.Object, ob.Class = int64(o), classes[rng.IntN(len(classes))]
				vol := 10 + rng.Float64()*1000
				ov := make(records.Vector, len(extract.ObjectNames))
				for i := range ov {
					ov[i] = float32(rng.Float64() * 50)
				}
				ov[1] = float32(vol)
				out = append(out, withKind(ob, "objects", ov, nil))
				rv := records.Vector(randVec(rng, len(radNames)))
				rv[0] = float32(vol)
				if rng.IntN(10) == 0 {
					rv[4] = float32(math.NaN()) // an undefined feature
				}
				out = append(out, withKind(ob, "radiomics", rv, nil))
				lo := [3]float64{rng.Float64() * 50, rng.Float64() * 50, rng.Float64() * 50}
				objs = append(objs, sp.Object{Label: int32(o), Class: ob.Class, Min: lo, Max: [3]float64{lo[0] + 5 + rng.Float64()*40, lo[1] + 5 + rng.Float64()*40, lo[2] + 5 + rng.Float64()*40}})
				if bin == 0 {
					sg := spectral.Signature{Label: int64(o), Class: segment.Class(ob.Class), Bins: []spectral.BinStats{
						{Index: 0, LowKeV: 15, HighKeV: 33, MeanHU: rng.Float64() * 1000},
						{Index: 1, LowKeV: 33, HighKeV: 50, MeanHU: rng.Float64() * 1000}}}
					out = append(out, withKind(ob, "spectral", records.Vector{float32(sg.Bins[0].MeanHU / 1000), float32(sg.Bins[1].MeanHU / 1000)}, sg))
				}
			}
			vi, err := sp.Volume(objs, sp.DefaultSettings())
			if err != nil {
				panic(err)
			}
			out = append(out, withKind(b, "vimage-xyz", nil, vi))
		}
	}
	return out
}

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func withKind(r records.Record, kind string, v records.Vector, data any) records.Record {
	r.Kind, r.Version, r.Values = kind, 1, v
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			panic(err)
		}
		r.Data = b
	}
	if err := r.Validate(); err != nil {
		panic(err)
	}
	return r
}

// openFixture returns a library in a new folder holding recs.
func openFixture(t testing.TB, cfg Config, recs []records.Record) *Library {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.Names = map[string][]string{"radiomics-v1": radNames}
	cfg.Log = slog.New(slog.DiscardHandler)
	l, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for batch := range slices.Chunk(recs, 200) {
		if err := l.Add(context.Background(), batch, 1); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// ofKind returns recs of kind (with version).
func ofKind(recs []records.Record, kind string) []records.Record {
	var out []records.Record
	for _, r := range recs {
		if r.KindVersion() == kind {
			out = append(out, r)
		}
	}
	return out
}

// indexed returns the vector the library indexes for v: NaN as 0.
func indexed(v records.Vector) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		if !math.IsNaN(float64(x)) {
			out[i] = x
		}
	}
	return out
}

func euclid(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// bruteHit is a brute-force neighbour.
type bruteHit struct {
	key string
	d   float64
}

// brute returns the records of kind that keep accepts, by distance to q
// then key, the record under skip left out.
func brute(recs []records.Record, kind string, q []float32, skip string, keep func(*records.Record) bool) []bruteHit {
	var out []bruteHit
	for _, r := range ofKind(recs, kind) {
		key := ItemOf(&r).String()
		if key == skip || keep != nil && !keep(&r) {
			continue
		}
		out = append(out, bruteHit{key, euclid(q, indexed(r.Values))})
	}
	slices.SortFunc(out, func(a, b bruteHit) int { return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.key, b.key)) })
	return out
}

// all runs q and the pages after it, returning every hit.
func all(t testing.TB, l Searcher, q Query) (hits []Hit, first *Answer) {
	t.Helper()
	for range 10000 {
		a, err := l.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if first == nil {
			first = a
		}
		hits = append(hits, a.Hits...)
		if a.Next == "" {
			return hits, first
		}
		q.Cursor = a.Next
	}
	t.Fatal("paging did not end")
	return nil, nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
