package phantom

import (
	"fmt"
	"math"

	"github.com/ctrecon/ctrecon/fdk"
)

// Kind is the shape of an [Object].
type Kind int

const (
	// Ellipsoid has semi-axes Axes along its local x, y and z.
	Ellipsoid Kind = iota
	// Cylinder is an elliptic cylinder with its axis along z: radii Axes[0]
	// and Axes[1] in x and y, half-height Axes[2].
	Cylinder
	// Box is a cuboid of half-lengths Axes.
	Box
)

// Object is one shape of uniform density.
type Object struct {
	Kind   Kind
	Center fdk.Vec3 // mm
	// Axes are the semi-axes of an ellipsoid, the x and y radii and the
	// half-height of a cylinder, or the half-lengths of a box, in mm.
	Axes fdk.Vec3
	// Angle rotates the object about the z axis through Center,
	// counter-clockwise (from +x towards +y), in radians.
	Angle float64
	// Density is added to whatever lies beneath, in 1/mm.
	Density float64
}

// Phantom is a sum of objects: its density at a point is the sum of the
// densities of the objects containing it.
type Phantom []Object

// Value returns the density at x.
func (p Phantom) Value(x fdk.Vec3) float64 {
	v := 0.0
	for i := range p {
		if p[i].contains(x) {
			v += p[i].Density
		}
	}
	return v
}

// LineIntegral returns the integral of the density along the infinite line
// src + t·dir: the sum over objects of density times chord length, in closed
// form. dir need not have unit length but must not be zero.
func (p Phantom) LineIntegral(src, dir fdk.Vec3) float64 {
	d := scale(dir, 1/math.Sqrt(dot(dir, dir)))
	sum := 0.0
	for i := range p {
		sum += p[i].Density * p[i].chord(src, d)
	}
	return sum
}

// local maps the point x and the direction d into the object's frame:
// translated to its centre, then rotated by -Angle about z.
func (o *Object) local(x, d fdk.Vec3) (fdk.Vec3, fdk.Vec3) {
	s, c := math.Sincos(o.Angle)
	rot := func(v fdk.Vec3) fdk.Vec3 { return fdk.Vec3{c*v[0] + s*v[1], -s*v[0] + c*v[1], v[2]} }
	return rot(sub(x, o.Center)), rot(d)
}

func (o *Object) contains(x fdk.Vec3) bool {
	q, _ := o.local(x, fdk.Vec3{})
	a := o.Axes
	switch o.Kind {
	case Ellipsoid:
		return sq(q[0]/a[0])+sq(q[1]/a[1])+sq(q[2]/a[2]) <= 1
	case Cylinder:
		return sq(q[0]/a[0])+sq(q[1]/a[1]) <= 1 && math.Abs(q[2]) <= a[2]
	case Box:
		return math.Abs(q[0]) <= a[0] && math.Abs(q[1]) <= a[1] && math.Abs(q[2]) <= a[2]
	}
	panic(fmt.Sprintf("phantom: unknown Kind %d", o.Kind))
}

// chord returns the length of the object's intersection with the line
// src + t·d, d of unit length.
func (o *Object) chord(src, d fdk.Vec3) float64 {
	q, e := o.local(src, d)
	// Start the line at its point closest to the centre so that the entry and
	// exit parameters are of the object's size, not of the source distance,
	// and their difference keeps full precision.
	q = sub(q, scale(e, dot(q, e)))
	var lo, hi float64
	switch o.Kind {
	case Ellipsoid:
		lo, hi = quadric(q, e, o.Axes, 3)
	case Cylinder:
		lo, hi = quadric(q, e, o.Axes, 2)
		zlo, zhi := slab(q[2], e[2], o.Axes[2])
		lo, hi = max(lo, zlo), min(hi, zhi)
	case Box:
		lo, hi = math.Inf(-1), math.Inf(1)
		for k := range 3 {
			klo, khi := slab(q[k], e[k], o.Axes[k])
			lo, hi = max(lo, klo), min(hi, khi)
		}
	default:
		panic(fmt.Sprintf("phantom: unknown Kind %d", o.Kind))
	}
	return max(hi-lo, 0)
}

// emptyLo and emptyHi bound the empty interval [+Inf, -Inf]: intersecting it
// with anything stays empty, and hi-lo is negative, never NaN.
var emptyLo, emptyHi = math.Inf(1), math.Inf(-1)

// quadric returns the parameter interval where q + t·e lies inside the
// ellipsoid (n = 3) or the infinite elliptic cylinder (n = 2, ignoring z) of
// semi-axes a. Scaling by the semi-axes makes it the unit sphere or circle;
// with t0 the parameter of the point m closest to its centre,
// |q + t·e|² = |m|² + |e|²(t - t0)², so the roots are t0 ± √((1-|m|²)/|e|²)
// without the cancellation of the textbook discriminant.
func quadric(q, e, a fdk.Vec3, n int) (lo, hi float64) {
	var qs, es fdk.Vec3
	for k := range n {
		qs[k], es[k] = q[k]/a[k], e[k]/a[k]
	}
	ee := dot(es, es)
	if ee == 0 { // parallel to the cylinder's axis
		if dot(qs, qs) <= 1 {
			return math.Inf(-1), math.Inf(1)
		}
		return emptyLo, emptyHi
	}
	t0 := -dot(qs, es) / ee
	m := add(qs, scale(es, t0))
	r := 1 - dot(m, m)
	if r <= 0 {
		return emptyLo, emptyHi
	}
	h := math.Sqrt(r / ee)
	return t0 - h, t0 + h
}

// slab returns the parameter interval where |q + t·e| <= h in one coordinate.
func slab(q, e, h float64) (lo, hi float64) {
	if e == 0 {
		if math.Abs(q) <= h {
			return math.Inf(-1), math.Inf(1)
		}
		return emptyLo, emptyHi
	}
	t1, t2 := (-h-q)/e, (h-q)/e
	return min(t1, t2), max(t1, t2)
}

func add(a, b fdk.Vec3) fdk.Vec3           { return fdk.Vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func sub(a, b fdk.Vec3) fdk.Vec3           { return fdk.Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func scale(a fdk.Vec3, s float64) fdk.Vec3 { return fdk.Vec3{a[0] * s, a[1] * s, a[2] * s} }
func dot(a, b fdk.Vec3) float64            { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func sq(v float64) float64                 { return v * v }
