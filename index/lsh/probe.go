package lsh

import (
	"math"
	"math/bits"
	"slices"

	"github.com/ctrecon/ctrecon/index/internal/vecstore"
)

// Multi-probe LSH (Lv, Josephson, Wang, Charikar and Li, VLDB 2007): besides
// the query's own bucket, a search probes in each table the buckets a small
// perturbation of its hash away, most likely first. A perturbation moves
// some functions one step: a p-stable value to the bucket below or above,
// a hyperplane bit to the other side. Its score is the sum of the squared
// distances from the query's projection to the boundaries it crosses (in
// widths, or for a hyperplane the squared distance to the plane), and Lv et
// al.'s query-directed probing generates the sets of steps in order of
// increasing score with a heap, from the steps sorted by their own scores:
// each set A begets shift(A), its largest step replaced by the next, and
// expand(A), the next step added, which enumerates every set once.

// move is one step of one function.
type move struct {
	i, dir int
	score  float64
}

// set is a set of steps: bit j stands for moves[j] (at most 128 of them,
// two for each of at most 64 functions).
type set [2]uint64

func (a set) with(j int) set { a[j/64] |= 1 << (j % 64); return a }

func (a set) without(j int) set { a[j/64] &^= 1 << (j % 64); return a }

// last returns the largest step of a non-empty set.
func (a set) last() int {
	if a[1] != 0 {
		return 64 + bits.Len64(a[1]) - 1
	}
	return bits.Len64(a[0]) - 1
}

// probes appends to keys the buckets of table t that the T most likely
// perturbations of a query with projections p and bucket key reach, most
// likely first.
func (t *table) probes(p []float64, key uint64, T int, keys []uint64) []uint64 {
	if T == 0 {
		return keys
	}
	moves := t.moves(p)
	var sets vecstore.Queue[set]
	sets.Push(moves[0].score, set{}.with(0))
	for n := 0; n < T && sets.Len() > 0; {
		score, a := sets.Pop()
		if last := a.last(); last+1 < len(moves) {
			sets.Push(score-moves[last].score+moves[last+1].score, a.without(last).with(last+1)) // shift
			sets.Push(score+moves[last+1].score, a.with(last+1))                                 // expand
		}
		if k, ok := t.perturb(key, moves, a); ok {
			keys = append(keys, k)
			n++
		}
	}
	return keys
}

// moves returns the steps of every function from projections p, by
// increasing score.
func (t *table) moves(p []float64) []move {
	ms := make([]move, 0, 2*len(p))
	for i, x := range p {
		if t.b == nil {
			ms = append(ms, move{i, 1, x * x / t.norm2[i]})
			continue
		}
		below := x - math.Floor(x)
		ms = append(ms, move{i, -1, below * below}, move{i, 1, (1 - below) * (1 - below)})
	}
	slices.SortStableFunc(ms, func(a, b move) int {
		switch {
		case a.score < b.score:
			return -1
		case a.score > b.score:
			return 1
		}
		return 0
	})
	return ms
}

// perturb returns key moved by the steps of a, and false when two of them
// move the same function.
func (t *table) perturb(key uint64, moves []move, a set) (uint64, bool) {
	var moved uint64
	for w, word := range a {
		for word != 0 {
			j := 64*w + bits.TrailingZeros64(word)
			word &= word - 1
			m := moves[j]
			if moved&(1<<m.i) != 0 {
				return 0, false
			}
			moved |= 1 << m.i
			key = t.step(key, m.i, m.dir)
		}
	}
	return key, true
}
