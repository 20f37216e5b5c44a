package spatial

import (
	"fmt"
	"math"
)

// Relation is one of Allen's thirteen relations between two intervals A and
// B on one axis. The first seven are those the virtual image writes with its
// seven operators, A op B; each of the last six is the inverse of one of
// them and is written with the operands swapped, B op A.
type Relation uint8

const (
	Before       Relation = iota // A < B: A ends before B begins
	Meets                        // A | B: A ends where B begins
	Overlaps                     // A / B: A begins first and ends inside B
	FinishedBy                   // A ] B: A begins first, both end together
	Contains                     // A % B: B lies inside A, touching neither end
	StartedBy                    // A [ B: both begin together, A ends last
	Equals                       // A = B: the same extent
	Starts                       // B [ A
	During                       // B % A
	Finishes                     // B ] A
	OverlappedBy                 // B / A
	MetBy                        // B | A
	After                        // B < A
)

// Relations is the number of relations.
const Relations = 13

var relationNames = [Relations]string{"before", "meets", "overlaps", "finished-by", "contains", "started-by",
	"equals", "starts", "during", "finishes", "overlapped-by", "met-by", "after"}

var operators = [Equals + 1]string{"<", "|", "/", "]", "%", "[", "="}

// String returns Allen's name of the relation, e.g. "finished-by".
func (r Relation) String() string {
	if r >= Relations {
		return fmt.Sprintf("Relation(%d)", uint8(r))
	}
	return relationNames[r]
}

// Inverse returns the relation of B to A when r is A's to B's.
func (r Relation) Inverse() Relation { return After - r }

// Operator returns the virtual image's operator for r and whether the
// operands are swapped: A r B is written "A op B", or "B op A" when swapped.
func (r Relation) Operator() (op string, swapped bool) {
	if r > Equals {
		return operators[r.Inverse()], true
	}
	return operators[r], false
}

// MarshalText writes Allen's name, so that records and queries read
// "before", not a number.
func (r Relation) MarshalText() ([]byte, error) {
	if r >= Relations {
		return nil, fmt.Errorf("%w: relation %d", ErrInput, uint8(r))
	}
	return []byte(relationNames[r]), nil
}

// UnmarshalText reads Allen's name, as MarshalText writes it. Errors wrap
// ErrInput.
func (r *Relation) UnmarshalText(text []byte) error {
	for i, name := range relationNames {
		if string(text) == name {
			*r = Relation(i)
			return nil
		}
	}
	return fmt.Errorf("%w: relation %q, want one of %q", ErrInput, text, relationNames)
}

// Interval is an object's extent along one axis, in mm.
type Interval struct {
	Min, Max float64
}

// Relate returns the relation of interval a to interval b. Ends closer than
// tol (mm) count as equal, so that touching and aligned objects are told
// apart from ones that miss each other by rounding. Both intervals must be
// longer than 2·tol (Build checks it): then the comparisons cannot
// contradict each other and exactly one relation holds.
func Relate(a, b Interval, tol float64) Relation {
	switch compare(a.Max, b.Min, tol) {
	case -1:
		return Before
	case 0:
		return Meets
	}
	switch compare(a.Min, b.Max, tol) {
	case 1:
		return After
	case 0:
		return MetBy
	}
	// The interiors overlap: the relation is fixed by how the beginnings
	// and how the ends compare.
	return overlapping[compare(a.Min, b.Min, tol)+1][compare(a.Max, b.Max, tol)+1]
}

// overlapping[begin+1][end+1] is the relation of overlapping intervals whose
// beginnings and ends compare as begin and end (-1, 0, 1).
var overlapping = [3][3]Relation{
	{Overlaps, FinishedBy, Contains},
	{Starts, Equals, StartedBy},
	{During, Finishes, OverlappedBy},
}

// compare returns -1, 0 or 1 as x is below, within tol of, or above y.
func compare(x, y, tol float64) int {
	switch {
	case x < y-tol:
		return -1
	case x > y+tol:
		return 1
	}
	return 0
}

// neighbours are the edges of the interval neighbourhood graph: Freksa's
// conceptual neighbours (1992, "Temporal reasoning based on semi-intervals",
// Artificial Intelligence 54), the relations one becomes when one end of
// one interval moves a little. Equals is the hub between the relations that
// share a beginning or an end; Before and After are 8 steps apart.
var neighbours = [...][2]Relation{
	{Before, Meets}, {Meets, Overlaps}, {Overlaps, FinishedBy}, {Overlaps, Starts},
	{FinishedBy, Contains}, {FinishedBy, Equals}, {Starts, Equals}, {Starts, During},
	{Contains, StartedBy}, {Equals, StartedBy}, {Equals, Finishes}, {During, Finishes},
	{StartedBy, OverlappedBy}, {Finishes, OverlappedBy}, {OverlappedBy, MetBy}, {MetBy, After},
}

// distances holds the shortest paths of the neighbourhood graph
// (Floyd-Warshall).
var distances = func() (d [Relations][Relations]int) {
	const far = 2 * Relations
	for i := range d {
		for j := range d[i] {
			if i != j {
				d[i][j] = far
			}
		}
	}
	for _, e := range neighbours {
		d[e[0]][e[1]], d[e[1]][e[0]] = 1, 1
	}
	for k := range Relations {
		for i := range Relations {
			for j := range Relations {
				d[i][j] = min(d[i][j], d[i][k]+d[k][j])
			}
		}
	}
	return d
}()

// Distance returns the number of steps between two relations in the
// interval neighbourhood graph: 0 to 8.
func Distance(r, s Relation) int { return distances[r][s] }

// Similarity returns the similarity of two relations of the same pair of
// objects on one axis, after Petraglia et al. (2001): 1 − d/4 with d their
// Distance, and 0 from d = 4 on (the formula would go negative up to d = 8,
// Before against After). So Before against Meets is 0.75, Overlaps against
// Equals 0.5, Before against Equals or Contains 0.
func Similarity(r, s Relation) float64 {
	return math.Max(0, 1-float64(Distance(r, s))/4)
}
