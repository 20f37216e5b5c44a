package spatial

import (
	"errors"
	"testing"
)

// TestRelateAllThirteen builds one pair of intervals for each relation, B
// being [10, 20] mm, and checks the relation, its inverse and how the
// virtual image writes it.
func TestRelateAllThirteen(t *testing.T) {
	b := Interval{10, 20}
	for _, c := range []struct {
		a       Interval
		want    Relation
		op      string
		swapped bool
	}{
		{Interval{0, 5}, Before, "<", false},
		{Interval{0, 10}, Meets, "|", false},
		{Interval{5, 15}, Overlaps, "/", false},
		{Interval{5, 20}, FinishedBy, "]", false},
		{Interval{5, 25}, Contains, "%", false},
		{Interval{10, 25}, StartedBy, "[", false},
		{Interval{10, 20}, Equals, "=", false},
		{Interval{10, 15}, Starts, "[", true},
		{Interval{12, 18}, During, "%", true},
		{Interval{15, 20}, Finishes, "]", true},
		{Interval{15, 25}, OverlappedBy, "/", true},
		{Interval{20, 30}, MetBy, "|", true},
		{Interval{25, 30}, After, "<", true},
	} {
		if got := Relate(c.a, b, 0); got != c.want {
			t.Errorf("%v to %v: %v, want %v", c.a, b, got, c.want)
		}
		if got := Relate(b, c.a, 0); got != c.want.Inverse() {
			t.Errorf("%v to %v: %v, want %v", b, c.a, got, c.want.Inverse())
		}
		if op, swapped := c.want.Operator(); op != c.op || swapped != c.swapped {
			t.Errorf("%v is written %q swapped %v, want %q swapped %v", c.want, op, swapped, c.op, c.swapped)
		}
		// Ends that differ by less than the tolerance are equal; by more,
		// not. Shifting A by 0.4 mm keeps it within tol = 0.5 of B's ends.
		shifted := Interval{c.a.Min + 0.4, c.a.Max - 0.4}
		if got := Relate(shifted, b, 0.5); got != c.want {
			t.Errorf("%v to %v within 0.5 mm: %v, want %v", shifted, b, got, c.want)
		}
	}
	if got := Relate(Interval{0, 10.2}, Interval{10, 20}, 0.1); got != Overlaps {
		t.Errorf("0.2 mm overlap with tol 0.1: %v, want overlaps", got)
	}
}

// position returns where x lies with respect to interval b: 0 before it, 1
// at its beginning, 2 inside, 3 at its end, 4 after.
func position(x float64, b Interval) int {
	switch {
	case x < b.Min:
		return 0
	case x == b.Min:
		return 1
	case x < b.Max:
		return 2
	case x == b.Max:
		return 3
	}
	return 4
}

// lattice places each relation at the positions of A's beginning and end
// with respect to B: Allen's relations are exactly the possible pairs.
var lattice = map[Relation][2]int{
	Before: {0, 0}, Meets: {0, 1}, Overlaps: {0, 2}, FinishedBy: {0, 3}, Contains: {0, 4},
	Starts: {1, 2}, Equals: {1, 3}, StartedBy: {1, 4},
	During: {2, 2}, Finishes: {2, 3}, OverlappedBy: {2, 4}, MetBy: {3, 4}, After: {4, 4},
}

// TestRelateExhaustive compares Relate with the lattice on every pair of
// intervals with ends in 0 to 6.
func TestRelateExhaustive(t *testing.T) {
	seen := map[Relation]bool{}
	for a0 := range 7 {
		for a1 := a0 + 1; a1 < 7; a1++ {
			for b0 := range 7 {
				for b1 := b0 + 1; b1 < 7; b1++ {
					a, b := Interval{float64(a0), float64(a1)}, Interval{float64(b0), float64(b1)}
					got := Relate(a, b, 0)
					if want := [2]int{position(a.Min, b), position(a.Max, b)}; lattice[got] != want {
						t.Errorf("%v to %v: %v at %v, want the relation at %v", a, b, got, lattice[got], want)
					}
					seen[got] = true
				}
			}
		}
	}
	if len(seen) != Relations {
		t.Errorf("%d relations occurred, want all %d", len(seen), Relations)
	}
}

// TestDistance checks the graph against the lattice: moving one end of A by
// one position is one step, so the distance is the lattice's Manhattan
// distance (the staircase of valid positions has no detour).
func TestDistance(t *testing.T) {
	most := 0
	for r := range Relation(Relations) {
		for s := range Relation(Relations) {
			p, q := lattice[r], lattice[s]
			want := abs(p[0]-q[0]) + abs(p[1]-q[1])
			if d := Distance(r, s); d != want {
				t.Errorf("Distance(%v, %v) = %d, want %d", r, s, d, want)
			}
			if Distance(r, s) != Distance(r.Inverse(), s.Inverse()) {
				t.Errorf("Distance(%v, %v) changes when both are inverted", r, s)
			}
			if sim := Similarity(r, s); !(sim >= 0 && sim <= 1) || sim != Similarity(s, r) {
				t.Errorf("Similarity(%v, %v) = %g", r, s, sim)
			}
			most = max(most, Distance(r, s))
		}
	}
	if most != 8 {
		t.Errorf("largest distance %d, want 8 (before to after)", most)
	}
	for _, c := range []struct {
		r, s Relation
		want float64
	}{
		{Before, Before, 1}, {Before, Meets, 0.75}, {Overlaps, Equals, 0.5}, {Equals, StartedBy, 0.75},
		{Starts, StartedBy, 0.5}, {Before, FinishedBy, 0.25}, {Before, Equals, 0}, {Before, Contains, 0}, {Before, After, 0},
	} {
		if got := Similarity(c.r, c.s); got != c.want {
			t.Errorf("Similarity(%v, %v) = %g, want %g", c.r, c.s, got, c.want)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestRelationText(t *testing.T) {
	for r := range Relation(Relations) {
		text, err := r.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Relation
		if err := back.UnmarshalText(text); err != nil || back != r {
			t.Errorf("%v: %q reads back as %v, %v", r, text, back, err)
		}
	}
	var r Relation
	if err := r.UnmarshalText([]byte("<")); !errors.Is(err, ErrInput) {
		t.Errorf("unknown name: err = %v", err)
	}
	if _, err := Relation(13).MarshalText(); !errors.Is(err, ErrInput) {
		t.Errorf("relation 13: err = %v", err)
	}
}
