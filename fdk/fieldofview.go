package fdk

import (
	"fmt"
	"math"
)

// Cylinder is a region about the rotation axis, world z: the points within
// Radius mm of the axis whose z lies in ZMin..ZMax mm.
type Cylinder struct {
	Radius float64 `json:"radius_mm"`
	ZMin   float64 `json:"z_min_mm"`
	ZMax   float64 `json:"z_max_mm"`
}

func (c Cylinder) String() string {
	if c == (Cylinder{}) {
		return "none about the axis"
	}
	return fmt.Sprintf("a cylinder %.1f mm across, z %.1f to %.1f mm", 2*c.Radius, c.ZMin, c.ZMax)
}

// extent returns the cylinder's size along x, y and z in mm.
func (c Cylinder) extent() [3]float64 { return [3]float64{2 * c.Radius, 2 * c.Radius, c.ZMax - c.ZMin} }

// overlaps reports whether a voxel of size s centred at p overlaps the
// cylinder's axis-aligned bounding box.
func (c Cylinder) overlaps(p Vec3, s [3]float64) bool {
	return math.Abs(p[0])-s[0]/2 < c.Radius && math.Abs(p[1])-s[1]/2 < c.Radius && p[2]+s[2]/2 > c.ZMin && p[2]-s[2]/2 < c.ZMax
}

// FieldOfView returns the cylinder about the rotation axis that bounds the
// field of view of geom's views as the reconstructor back-projects them (a
// displaced detector widened to be symmetric about the central ray, see
// Weights.Extension): its z range is the part of the axis every view
// sees, its radius that of the widest circle about the axis every view
// sees in the plane through the middle of that part. For a circular orbit
// the radius is where the fan's edges pass the axis and the z range the
// detector's height scaled to the isocentre: 37.7 mm across and 9.4 mm
// high for the simulated MARS scan. Every view sees all of the cylinder
// but two shallow cones at the rims of its ends: there the rows see less,
// on the side nearest the source (8.3 mm high at the MARS scan's rim).
//
// Since it is computed from the views' matrices, it holds for any
// geometry: offsets, tilt, short scans and explicit matrices. It fails,
// wrapping ErrGeometry, when no point of the axis is seen by every view.
func FieldOfView(geom *Geometry) (Cylinder, error) {
	views, err := geom.Views()
	if err != nil {
		return Cylinder{}, err
	}
	w, err := NewWeights(geom, views)
	if err != nil {
		return Cylinder{}, err
	}
	left, right := w.Extension()
	det, bp := Widen(geom.Detector, views, left, right)
	return fieldOfView(bp, det)
}

// fovDirections is how many directions about the axis fieldOfView looks
// along for the widest circle. The region every view sees is convex (each
// view sees a pyramid), so the circle through the nearest of those
// directions' edges, scaled by cos(π/fovDirections), is seen whole: 0.015 %
// smaller than the widest.
const fovDirections = 180

// fieldOfView returns the cylinder about the z axis that bounds what every
// one of views sees on det.
func fieldOfView(views []View, det Detector) (Cylinder, error) {
	px := det.pixels()
	// seen returns the part of the line a + t·d that every view sees.
	seen := func(a, d Vec3) (lo, hi float64) {
		lo, hi = math.Inf(-1), math.Inf(1)
		for i := range views {
			if lo, hi = lineSpan(&views[i].P, a, d, lo, hi, px); lo > hi {
				break
			}
		}
		return lo, hi
	}
	zlo, zhi := seen(Vec3{}, Vec3{0, 0, 1})
	if !(zlo < zhi) || math.IsInf(zlo, 0) || math.IsInf(zhi, 0) {
		return Cylinder{}, fmt.Errorf("%w: no part of the rotation axis is seen by every view, so there is no field of view about it", ErrGeometry)
	}
	reach := math.Inf(1)
	for k := range fovDirections {
		s, c := math.Sincos(2 * math.Pi * float64(k) / fovDirections)
		_, hi := seen(Vec3{0, 0, (zlo + zhi) / 2}, Vec3{c, s, 0})
		reach = min(reach, hi)
	}
	return Cylinder{Radius: reach * math.Cos(math.Pi/fovDirections), ZMin: zlo, ZMax: zhi}, nil
}
