package lsh

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestProbeOrder checks query-directed probing against every perturbation
// of a table's functions, scored and sorted by brute force: the probes
// must be all of them, each once, most likely first.
func TestProbeOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range []Family{Gaussian, Hyperplane} {
		for range 20 {
			hashes := 1 + rng.IntN(5)
			tb := newTable(f, hashes, 3, rng)
			p := make([]float64, hashes)
			for i := range p {
				p[i] = 4 * rng.NormFloat64()
			}
			key := tb.key(p)
			type probe struct {
				key   uint64
				score float64
			}
			var want []probe
			steps := 3 // −1, 0, +1 per function; a hyperplane uses 0 and +1
			if f == Hyperplane {
				steps = 2
			}
			for code := range int(math.Pow(float64(steps), float64(hashes))) {
				k, score, moved := key, 0.0, false
				for i, c := 0, code; i < hashes; i, c = i+1, c/steps {
					dir := c%steps - steps + 2 // hyperplane: 0 or 1; p-stable: −1, 0 or 1
					if dir == 0 {
						continue
					}
					k, moved = tb.step(k, i, dir), true
					if f == Hyperplane {
						score += p[i] * p[i] / tb.norm2[i]
					} else if below := p[i] - math.Floor(p[i]); dir < 0 {
						score += below * below
					} else {
						score += (1 - below) * (1 - below)
					}
				}
				if moved {
					want = append(want, probe{k, score})
				}
			}
			slices.SortFunc(want, func(a, b probe) int { return cmp.Compare(a.score, b.score) })
			got := tb.probes(p, key, len(want)+5, nil)
			if len(got) != len(want) {
				t.Fatalf("%s, %d functions: %d probes, want %d", f, hashes, len(got), len(want))
			}
			for j := range want {
				if got[j] != want[j].key {
					t.Fatalf("%s, %d functions: probe %d is %x, want %x (score %g)", f, hashes, j, got[j], want[j].key, want[j].score)
				}
			}
		}
	}
}
