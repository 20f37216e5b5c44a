package index

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// userMeta is a meta of the user's own type, as features.Vector is (which
// this package's tests cannot import: features/histogram imports index):
// the save/load tests store such metas.
type userMeta struct {
	SeriesUID string
	Slice     int
	Kind      string
}

func init() { gob.Register(userMeta{}) }

// l2cubed is a custom metric for the tests: a saved index names it, and
// Load must be given it again.
var l2cubed = NewMetric("test-l2cubed", func(a, b []float32) float64 { return math.Pow(euclidean(a, b), 3) })

func TestExactSaveLoad(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, m := range append(builtin, l2cubed) {
		for _, metas := range []bool{false, true} {
			x := NewExactMetric(0, m)
			for i, e := range randomEntries(rng, 300, 12, false) {
				var meta any
				if metas && i%3 == 0 {
					meta = userMeta{SeriesUID: "1.2." + e.key, Slice: i, Kind: "hist-hu-v1"}
				} else if metas && i%3 == 1 {
					meta = i
				}
				for j := range e.v {
					e.v[j] = abs32(e.v[j]) + 0.1 // valid under every metric
				}
				if err := x.Add(e.key, e.v, meta); err != nil {
					t.Fatal(err)
				}
			}
			x.Delete(x.keys[7])
			var buf bytes.Buffer
			if err := x.Save(&buf); err != nil {
				t.Fatalf("%s, metas %v: %v", m, metas, err)
			}
			saved := buf.Bytes()
			y, err := Load(bytes.NewReader(saved), l2cubed)
			if err != nil {
				t.Fatalf("%s, metas %v: %v", m, metas, err)
			}
			if y.Kind() != "exact" || y.Metric() != m || y.Dim() != 12 || y.Len() != x.Len() {
				t.Fatalf("%s: loaded %s %s dim %d len %d", m, y.Kind(), y.Metric(), y.Dim(), y.Len())
			}
			for _, k := range x.keys {
				v, meta, _ := x.Get(k)
				if v2, meta2, ok := y.Get(k); !ok || !reflect.DeepEqual(v, v2) || !reflect.DeepEqual(meta, meta2) {
					t.Fatalf("%s: key %s: %v %v, saved %v %v", m, k, v2, meta2, v, meta)
				}
			}
			q := x.data[:12]
			if a, b := x.Search(q, 20, nil), y.Search(q, 20, nil); !reflect.DeepEqual(a, b) {
				t.Fatalf("%s: search after load %v, before %v", m, b, a)
			}
			var again bytes.Buffer
			if err := y.Save(&again); err != nil || !bytes.Equal(again.Bytes(), saved) {
				t.Fatalf("%s: saving the loaded index gives other bytes (%v)", m, err)
			}
		}
	}
}

// savedExact returns a small saved Euclidean index.
func savedExact(t *testing.T) []byte {
	x := NewExact(3)
	x.Add("a", []float32{1, 2, 3}, nil)
	x.Add("b", []float32{4, 5, 6}, 7)
	var buf bytes.Buffer
	if err := x.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLoadErrors(t *testing.T) {
	good := savedExact(t)
	if _, err := Load(bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string]struct {
		file []byte
		says string
	}{
		"empty":     {nil, "no saved index's magic number"},
		"text":      {[]byte("key,0.1,0.2\n"), "no saved index's magic number"},
		"version":   {edit(func(b []byte) []byte { b[8] = 9; return b }), "format version 9, this program reads 1"},
		"truncated": {good[:len(good)-9], "the file ends"},
		"checksum": {edit(func(b []byte) []byte { // the value 1 becomes 1.0000001
			b[bytes.Index(b, []byte{0, 0, 0x80, 0x3f})] ^= 1
			return b
		}), "checksum"},
		"trailing": {append(bytes.Clone(good), 0), "more bytes follow the checksum"},
		"kind": {edit(func(b []byte) []byte {
			return bytes.Replace(b, []byte("exact"), []byte("exakt"), 1)
		}), `unknown index "exakt" (registered: exact`},
		"metric": {edit(func(b []byte) []byte {
			return bytes.Replace(b, []byte("\x09\x00\x00\x00euclidean"), []byte("\x09\x00\x00\x00euclidian"), 1)
		}), `metric "euclidian": give it to Load`},
		"huge": {edit(func(b []byte) []byte { // the count of vectors
			i := bytes.Index(b, []byte("euclidean")) + len("euclidean") + 4
			copy(b[i:], []byte{0, 0, 0, 0, 0, 0, 0, 0x10})
			return b
		}), "vectors of 3 values"},
	}
	for name, c := range cases {
		_, err := Load(bytes.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.says)
		}
		if name != "metric" && !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v does not wrap ErrFormat", name, err)
		}
	}
	// every truncation is an error, none a panic
	for n := range len(good) {
		if _, err := Load(bytes.NewReader(good[:n])); err == nil {
			t.Fatalf("the first %d of %d bytes loaded", n, len(good))
		}
	}
}

func TestSaveUnregisteredMeta(t *testing.T) {
	type private struct{ A int }
	x := NewExact(1)
	x.Add("a", []float32{1}, private{1})
	err := x.Save(&bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "type not registered") {
		t.Errorf("Save with an unregistered meta type: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	k, err := KindNamed("exact")
	if err != nil {
		t.Fatal(err)
	}
	x, err := k.New(2, Manhattan, nil)
	if err != nil || x.Kind() != "exact" || x.Metric() != Manhattan || x.Dim() != 2 {
		t.Fatalf("New: %v, %v", x, err)
	}
	if _, err := KindNamed("nope"); err == nil || !strings.Contains(err.Error(), "registered: exact") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := k.BuildParams(map[string]string{"ef": "3"}); err == nil || !strings.Contains(err.Error(), "index exact takes no parameters") {
		t.Errorf("a parameter exact does not take: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering exact twice did not panic")
		}
	}()
	Register(k)
}

// TestExactMetricsMatchNaive checks Search and Range under every metric
// against sorting every distance.
func TestExactMetricsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 1))
	for _, m := range append(builtin, l2cubed) {
		es := randomEntries(rng, 200, 9, true)
		for i := range es {
			es[i].v[0] += 0.125 // no vector of zeros, for cosine
		}
		x := NewExactMetric(9, m)
		for _, e := range es {
			if err := x.Add(e.key, e.v, e.meta); err != nil {
				t.Fatal(err)
			}
		}
		for range 10 {
			q := es[rng.IntN(len(es))].v
			var all []Hit
			for _, e := range es {
				all = append(all, Hit{e.key, m.Distance(q, e.v), e.meta})
			}
			SortHits(all)
			checkHits(t, fmt.Sprintf("%s k 7", m), x.Search(q, 7, nil), all[:7])
			radius := all[len(all)/5].Distance
			var within []Hit
			for _, h := range all {
				if h.Distance <= radius {
					within = append(within, h)
				}
			}
			checkHits(t, fmt.Sprintf("%s radius %g", m, radius), x.Range(q, radius, nil), within)
		}
	}
}
