package index

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSortHits checks SortHits against slices.SortFunc with the order it
// documents (distance, then key), for 0 to 70 hits (both of its ways),
// in random order and nearly in order, with many equal distances.
func TestSortHits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 71 {
		for _, nearly := range []bool{false, true} {
			h := make([]Hit, n)
			for i := range h {
				h[i] = Hit{Key: fmt.Sprintf("k%03d", rng.IntN(1000)), Distance: float64(rng.IntN(6)) / 4}
			}
			if nearly {
				slices.SortFunc(h, func(a, b Hit) int { return cmp.Compare(a.Distance, b.Distance) })
			}
			want := slices.Clone(h)
			slices.SortFunc(want, func(a, b Hit) int {
				return cmp.Or(cmp.Compare(a.Distance, b.Distance), strings.Compare(a.Key, b.Key))
			})
			SortHits(h)
			for i := range h {
				if h[i].Distance != want[i].Distance || h[i].Key != want[i].Key {
					t.Fatalf("%d hits (nearly in order %v): hit %d is %+v, want %+v", n, nearly, i, h[i], want[i])
				}
			}
		}
	}
}

// batchExact is an Exact that answers SearchAll through SearchBatch,
// counting the calls.
type batchExact struct {
	*Exact
	calls int
}

func (b *batchExact) SearchBatch(queries [][]float32, k int, filter Filter) [][]Hit {
	b.calls++
	out := make([][]Hit, len(queries))
	for i, q := range queries {
		out[i] = b.Search(q, k, filter)
	}
	return out
}

// TestSearchAll checks that SearchAll answers each query as Search does,
// and calls SearchBatch where the index has it.
func TestSearchAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := NewExact(3)
	for i := range 50 {
		x.Add(fmt.Sprint(i), []float32{rng.Float32(), rng.Float32(), rng.Float32()}, i)
	}
	queries := [][]float32{{0, 0, 0}, {1, 1}, {0.5, 0.2, 0.9}}
	b := &batchExact{Exact: x}
	for _, ix := range []Index{x, b} {
		got := SearchAll(ix, queries, 5, nil)
		if len(got) != len(queries) {
			t.Fatalf("%d answers to %d queries", len(got), len(queries))
		}
		for i, q := range queries {
			if want := x.Search(q, 5, nil); !slices.Equal(got[i], want) {
				t.Errorf("query %d: %v, want %v", i, got[i], want)
			}
		}
	}
	if b.calls != 1 {
		t.Errorf("SearchBatch called %d times, want 1", b.calls)
	}
}
