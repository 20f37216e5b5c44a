package spatial

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ctrecon/ctrecon/features/internal/settingshash"
)

// ErrInput is wrapped by the errors about objects, settings, virtual images
// and queries; the message names the object, axis or field.
var ErrInput = errors.New("invalid spatial input")

// Kinds of virtual images: a volume's, on x, y and z, and an axial slice's,
// on x and y. Settings name the tolerance.
const (
	KindVolume = "vimage-xyz-v1"
	KindSlice  = "vimage-xy-v1"
)

// axisNames name the axes in errors.
var axisNames = [3]string{"x", "y", "z"}

// Object is an object of an image, reduced to its bounding extents.
type Object struct {
	// Label identifies the object within its image, as the label image's
	// value does: positive and unique.
	Label int32 `json:"label"`
	// Class is what the object is ("bone", "iodine"); queries match objects
	// by class.
	Class string `json:"class"`
	// Min and Max bound the object along world x, y and z in mm. A slice's
	// objects use x and y only.
	Min [3]float64 `json:"min_mm"`
	Max [3]float64 `json:"max_mm"`
}

// Extent returns the object's interval on axis k (0 x, 1 y, 2 z).
func (o *Object) Extent(k int) Interval { return Interval{Min: o.Min[k], Max: o.Max[k]} }

// Settings are what virtual images are built with. A feature record names
// them by Hash.
type Settings struct {
	// TolMM is how close (mm) two ends of extents must be to count as the
	// same coordinate: touching objects are |, aligned ones =, [ or ]. It
	// absorbs rounding; every extent must be longer than 2·TolMM.
	TolMM float64 `json:"tol_mm"`
}

// DefaultSettings take ends within a micrometre as equal: enough for
// extents computed from voxel grids in float64, far below any voxel.
func DefaultSettings() Settings { return Settings{TolMM: 1e-3} }

// Validate reports a tolerance that is negative or not finite. Errors wrap
// ErrInput.
func (s Settings) Validate() error {
	if !(s.TolMM >= 0) || math.IsInf(s.TolMM, 1) {
		return fmt.Errorf("%w: tol_mm %g, want finite and at least 0", ErrInput, s.TolMM)
	}
	return nil
}

// Hash names the settings in a feature record (settingshash.Of).
func (s Settings) Hash() string { return settingshash.Of(s) }

// Triple is one spatial relation of a virtual image, written as the virtual
// image writes it: objects A and B (labels) and one of the seven forward
// relations, Before to Equals, so "A Rel B" reads with its operator.
type Triple struct {
	A   int32    `json:"a"`
	Rel Relation `json:"rel"`
	B   int32    `json:"b"`
}

// String writes the triple with the virtual image's operator, e.g. "3 [ 7".
func (t Triple) String() string {
	op, _ := t.Rel.Operator()
	return fmt.Sprintf("%d %s %d", t.A, op, t.B)
}

// VirtualImage is the spatial index of one image after Petraglia, Sebillo,
// Tucci and Tortora (2001): its objects and, on each axis, the relation of
// every pair of objects' extents.
type VirtualImage struct {
	Settings Settings `json:"settings"`
	// Axes is 3 for a volume (x, y, z) and 2 for a slice (x, y).
	Axes int `json:"axes"`
	// Objects are in increasing label order.
	Objects []Object `json:"objects"`
	// Relations[k] holds axis k's triples, one per pair of objects (i, j),
	// i < j in Objects' order, in the order (0, 1), (0, 2), ..., (1, 2), ...
	// Each names its pair in the order that makes its relation forward.
	Relations [][]Triple `json:"relations"`
}

// Kind returns KindVolume or KindSlice.
func (vi *VirtualImage) Kind() string {
	if vi.Axes == 3 {
		return KindVolume
	}
	return KindSlice
}

// Volume returns the virtual image of a volume's objects, on x, y and z.
// Errors wrap ErrInput and name the object: a label not positive or given
// twice, no class, an extent not finite or not longer than 2·TolMM.
func Volume(objects []Object, s Settings) (*VirtualImage, error) { return build(objects, 3, s) }

// Slice returns the virtual image of an axial slice's objects, on x and y;
// z is ignored. Errors as Volume's.
func Slice(objects []Object, s Settings) (*VirtualImage, error) { return build(objects, 2, s) }

func build(objects []Object, axes int, s Settings) (*VirtualImage, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	objs := slices.Clone(objects)
	slices.SortFunc(objs, func(a, b Object) int { return cmp.Compare(a.Label, b.Label) })
	for i := range objs {
		if err := checkObject(&objs[i], axes, s.TolMM); err != nil {
			return nil, err
		}
		if i > 0 && objs[i].Label == objs[i-1].Label {
			return nil, fmt.Errorf("%w: object label %d given twice", ErrInput, objs[i].Label)
		}
	}
	vi := &VirtualImage{Settings: s, Axes: axes, Objects: objs, Relations: make([][]Triple, axes)}
	n := len(objs)
	for k := range axes {
		ts := make([]Triple, 0, n*(n-1)/2)
		for i := range n {
			for j := i + 1; j < n; j++ {
				a, b := &objs[i], &objs[j]
				r := Relate(a.Extent(k), b.Extent(k), s.TolMM)
				if r > Equals {
					a, b, r = b, a, r.Inverse()
				}
				ts = append(ts, Triple{A: a.Label, Rel: r, B: b.Label})
			}
		}
		vi.Relations[k] = ts
	}
	return vi, nil
}

// checkObject reports an object build cannot use.
func checkObject(o *Object, axes int, tol float64) error {
	if o.Label <= 0 {
		return fmt.Errorf("%w: object label %d, want a positive label", ErrInput, o.Label)
	}
	if o.Class == "" {
		return fmt.Errorf("%w: object %d has no class", ErrInput, o.Label)
	}
	for k := range axes {
		lo, hi := o.Min[k], o.Max[k]
		if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
			return fmt.Errorf("%w: object %d extends over [%g, %g] mm on %s, want finite", ErrInput, o.Label, lo, hi, axisNames[k])
		}
		if !(hi-lo > 2*tol) {
			return fmt.Errorf("%w: object %d extends over [%g, %g] mm on %s, want longer than twice tol_mm = %g",
				ErrInput, o.Label, lo, hi, axisNames[k], 2*tol)
		}
	}
	return nil
}

// Relation returns the relation of object a to object b (labels) on axis
// k, and false when either is not in the image or they are the same.
func (vi *VirtualImage) Relation(k int, a, b int32) (Relation, bool) {
	i, okA := vi.index(a)
	j, okB := vi.index(b)
	if !okA || !okB || i == j || k < 0 || k >= vi.Axes {
		return 0, false
	}
	t := vi.Relations[k][pair(min(i, j), max(i, j), len(vi.Objects))]
	if t.A == a {
		return t.Rel, true
	}
	return t.Rel.Inverse(), true
}

// index returns the position of label l in Objects.
func (vi *VirtualImage) index(l int32) (int, bool) {
	return slices.BinarySearchFunc(vi.Objects, l, func(o Object, l int32) int { return cmp.Compare(o.Label, l) })
}

// pair returns the position of pair (i, j), i < j, among the n(n−1)/2
// pairs of n objects in Relations' order.
func pair(i, j, n int) int { return i*(2*n-i-1)/2 + j - i - 1 }

// Validate reports a virtual image that does not hold together, such as one
// decoded from a record: axes not 2 or 3, objects out of label order or
// invalid, relations missing, or a triple that names the wrong pair or a
// relation that is not forward. The relations are not recomputed from the
// extents. Errors wrap ErrInput.
func (vi *VirtualImage) Validate() error {
	if vi.Axes != 2 && vi.Axes != 3 {
		return fmt.Errorf("%w: virtual image has %d axes, want 2 or 3", ErrInput, vi.Axes)
	}
	if err := vi.Settings.Validate(); err != nil {
		return err
	}
	for i := range vi.Objects {
		if err := checkObject(&vi.Objects[i], vi.Axes, vi.Settings.TolMM); err != nil {
			return err
		}
		if i > 0 && vi.Objects[i].Label <= vi.Objects[i-1].Label {
			return fmt.Errorf("%w: object %d follows object %d, want increasing labels", ErrInput, vi.Objects[i].Label, vi.Objects[i-1].Label)
		}
	}
	if len(vi.Relations) != vi.Axes {
		return fmt.Errorf("%w: virtual image has relations on %d axes, want %d", ErrInput, len(vi.Relations), vi.Axes)
	}
	n := len(vi.Objects)
	for k, ts := range vi.Relations {
		if len(ts) != n*(n-1)/2 {
			return fmt.Errorf("%w: %s has %d relations, want one per pair of %d objects", ErrInput, axisNames[k], len(ts), n)
		}
		for i := range n {
			for j := i + 1; j < n; j++ {
				t, a, b := ts[pair(i, j, n)], vi.Objects[i].Label, vi.Objects[j].Label
				if !(t.A == a && t.B == b || t.A == b && t.B == a) || t.Rel > Equals {
					return fmt.Errorf("%w: %s relation %d is %d %v %d, want objects %d and %d with a forward relation",
						ErrInput, axisNames[k], pair(i, j, n), t.A, t.Rel, t.B, a, b)
				}
			}
		}
	}
	return nil
}
