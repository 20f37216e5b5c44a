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
