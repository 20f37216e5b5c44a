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
	return fmt.Sprintf("a cylinder %.1f mm across, z %.1f to %.1f mm", 2*c.Radius, c.ZMin, c.ZMax)
}

// extent returns the cylinder's size along x, y and z in mm.
func (c Cylinder) extent() [3]float64 { return [3]float64{2 * c.Radius, 2 * c.Radius, c.ZMax - c.ZMin} }

// overlaps reports whether a voxel of size s centred at p overlaps the
// cylinder's axis-aligned bounding box.
func (c Cylinder) overlaps(p Vec3, s [3]float64) bool {
	return math.Abs(p[0])-s[0]/2 < c.Radius && math.Abs(p[1])-s[1]/2 < c.Radius && p[2]+s[2]/2 > c.ZMin && p[2]-s[2]/2 < c.ZMax
}

// FieldOfView returns the field of view of geom's views as the
// reconstructor back-projects them (a displaced detector widened to be
// symmetric about the central ray, see Weights.Extension): the largest
// cylinder about the rotation axis that every view projects onto the
// detector. For a circular orbit its radius is where the fan's edges pass
// the axis, and its height what the detector's rows see at that radius on
// the side nearest the source, less than on the axis by the cone angle.
// Since it is computed from the views' matrices, it holds for any
// geometry: offsets, tilt, short scans (the largest axis-centred cylinder
// in the arc's field of view) and explicit matrices. It fails, wrapping
// ErrGeometry, when no point of the axis is seen by every view.
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

// fovDirections is how many directions about the axis fieldOfView samples
// the cylinder's rim in. The region every view sees is convex (each view
// sees a pyramid), so a cylinder whose two rims' sampled points are seen
// is seen whole once its radius is scaled by cos(π/fovDirections), the
// polygon's inscribed circle: 0.015 % smaller.
const fovDirections = 180

// fieldOfView returns the cylinder of largest volume about the z axis that
// every one of views sees on det.
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
	if !(zlo <= zhi) || math.IsInf(zlo, 0) || math.IsInf(zhi, 0) {
		return Cylinder{}, fmt.Errorf("%w: no point of the rotation axis is seen by every view, so there is no field of view about it", ErrGeometry)
	}
	zc := (zlo + zhi) / 2
	rim := func(k int) (float64, float64) {
		s, c := math.Sincos(2 * math.Pi * float64(k) / fovDirections)
		return c, s
	}
	// The widest circle about the axis in the plane z = zc.
	reach := math.Inf(1)
	for k := range fovDirections {
		c, s := rim(k)
		_, hi := seen(Vec3{0, 0, zc}, Vec3{c, s, 0})
		reach = min(reach, hi)
	}
	// The z range every point of the rim of radius r sees.
	zRange := func(r float64) Cylinder {
		cyl := Cylinder{Radius: r, ZMin: math.Inf(-1), ZMax: math.Inf(1)}
		for k := range fovDirections {
			c, s := rim(k)
			lo, hi := seen(Vec3{r * c, r * s, 0}, Vec3{0, 0, 1})
			cyl.ZMin, cyl.ZMax = max(cyl.ZMin, lo), min(cyl.ZMax, hi)
			if cyl.ZMin > cyl.ZMax {
				return Cylinder{}
			}
		}
		return cyl
	}
	cyl := maxVolume(reach, zRange)
	if !(cyl.ZMax > cyl.ZMin) || !(cyl.Radius > 0) {
		return Cylinder{}, fmt.Errorf("%w: no cylinder about the rotation axis is seen by every view", ErrGeometry)
	}
	cyl.Radius *= math.Cos(math.Pi / fovDirections)
	return cyl, nil
}

// maxVolume returns the cylinder of largest volume that zRange gives for a
// radius up to reach, by golden-section search: the volume πr²·height(r)
// rises with r until the height, which falls as the rim nears the source
// (and for a tilted detector as it nears the fan's edges), falls faster.
// For a circular orbit with a fan narrower than 83° that is at reach.
func maxVolume(reach float64, zRange func(r float64) Cylinder) Cylinder {
	vol := func(c Cylinder) float64 { return c.Radius * c.Radius * (c.ZMax - c.ZMin) }
	best := zRange(reach)
	keep := func(c Cylinder) float64 {
		if vol(c) > vol(best) {
			best = c
		}
		return vol(c)
	}
	phi := (math.Sqrt(5) - 1) / 2
	a, b := 0.0, reach
	r1, r2 := b-phi*(b-a), a+phi*(b-a)
	v1, v2 := keep(zRange(r1)), keep(zRange(r2))
	for range 30 { // to 5e-7 of reach
		if v1 < v2 {
			a, r1, v1 = r1, r2, v2
			r2 = a + phi*(b-a)
			v2 = keep(zRange(r2))
		} else {
			b, r2, v2 = r2, r1, v1
			r1 = b - phi*(b-a)
			v1 = keep(zRange(r1))
		}
	}
	return best
}
