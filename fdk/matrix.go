package fdk

import (
	"errors"
	"fmt"
	"math"
)

// Vec3 is a point or direction in world millimetres.
type Vec3 [3]float64

func (a Vec3) add(b Vec3) Vec3      { return Vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func (a Vec3) sub(b Vec3) Vec3      { return Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func (a Vec3) dot(b Vec3) float64   { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func (a Vec3) scale(s float64) Vec3 { return Vec3{a[0] * s, a[1] * s, a[2] * s} }
func (a Vec3) norm() float64        { return math.Sqrt(a.dot(a)) }

// Matrix is a 3x4 projection matrix: it maps the homogeneous world point
// (x, y, z, 1) in millimetres to (col·w, row·w, w), pixel indices of the
// stored detector image.
type Matrix [3][4]float64

// ErrSingular reports a projection matrix whose left 3x3 block cannot be
// inverted, so it has no finite source position.
var ErrSingular = errors.New("fdk: singular projection matrix")

// Project returns the detector pixel (col, row) of world point x and the
// homogeneous depth w.
func (m *Matrix) Project(x Vec3) (col, row, w float64) {
	p := func(r int) float64 { return m[r][0]*x[0] + m[r][1]*x[1] + m[r][2]*x[2] + m[r][3] }
	w = p(2)
	return p(0) / w, p(1) / w, w
}

// left returns the left 3x3 block.
func (m *Matrix) left() [3][3]float64 {
	var l [3][3]float64
	for r := range 3 {
		l[r] = [3]float64{m[r][0], m[r][1], m[r][2]}
	}
	return l
}

// inverse3 inverts a 3x3 matrix by cofactors.
func inverse3(a [3][3]float64) ([3][3]float64, error) {
	var c [3][3]float64
	for r := range 3 {
		for k := range 3 {
			r1, r2 := (r+1)%3, (r+2)%3
			k1, k2 := (k+1)%3, (k+2)%3
			c[k][r] = a[r1][k1]*a[r2][k2] - a[r1][k2]*a[r2][k1]
		}
	}
	det := a[0][0]*c[0][0] + a[0][1]*c[1][0] + a[0][2]*c[2][0]
	if det == 0 || math.IsNaN(det) || math.IsInf(det, 0) {
		return c, ErrSingular
	}
	for r := range 3 {
		for k := range 3 {
			c[r][k] /= det
		}
	}
	return c, nil
}

func mulVec3(a [3][3]float64, v Vec3) Vec3 {
	return Vec3{a[0][0]*v[0] + a[0][1]*v[1] + a[0][2]*v[2],
		a[1][0]*v[0] + a[1][1]*v[1] + a[1][2]*v[2],
		a[2][0]*v[0] + a[2][1]*v[1] + a[2][2]*v[2]}
}

// Source returns the x-ray source position: the point the matrix maps to
// (0, 0, 0), the centre of projection.
func (m *Matrix) Source() (Vec3, error) {
	inv, err := inverse3(m.left())
	if err != nil {
		return Vec3{}, err
	}
	return mulVec3(inv, Vec3{-m[0][3], -m[1][3], -m[2][3]}), nil
}

// Ray returns the unit direction from the source through detector pixel
// (col, row), pointing towards the detector.
func (m *Matrix) Ray(col, row float64) (Vec3, error) {
	inv, err := inverse3(m.left())
	if err != nil {
		return Vec3{}, err
	}
	d := mulVec3(inv, Vec3{col, row, 1})
	// Points in front of the source have w > 0; orient d accordingly.
	if m[2][0]*d[0]+m[2][1]*d[1]+m[2][2]*d[2] < 0 {
		d = d.scale(-1)
	}
	return d.scale(1 / d.norm()), nil
}

// normalizeDepth rescales m so that w is the distance in front of the source
// along the principal axis divided by sid: w = 1 at the isocentre's depth and
// the FDK distance weight is 1/w².
func (m *Matrix) normalizeDepth(sid float64) error {
	a := Vec3{m[2][0], m[2][1], m[2][2]}
	n := a.norm()
	if n == 0 || math.IsNaN(n) {
		return fmt.Errorf("%w: zero third row", ErrSingular)
	}
	src, err := m.Source()
	if err != nil {
		return err
	}
	// The principal axis must point from the source towards the origin side,
	// where the object is, for w to be positive there.
	s := 1 / (n * sid)
	if a.dot(src.scale(-1)) < 0 {
		s = -s
	}
	for r := range 3 {
		for k := range 4 {
			m[r][k] *= s
		}
	}
	return nil
}

// mul returns the 3x4 product m·a where a is a 4x4 affine map given by its top
// three rows.
func (m *Matrix) mul(a [3][4]float64) Matrix {
	var out Matrix
	for r := range 3 {
		for k := range 4 {
			v := 0.0
			for j := range 3 {
				v += m[r][j] * a[j][k]
			}
			if k == 3 {
				v += m[r][3]
			}
			out[r][k] = v
		}
	}
	return out
}
