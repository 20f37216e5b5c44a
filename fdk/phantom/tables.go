package phantom

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ctrecon/ctrecon/fdk"
)

// ellipsoidRow is one line of a published ellipsoid table in the unit cube
// [-1, 1]³, already in ctrecon's axes: centre, semi-axes, rotation about z
// in degrees (counter-clockwise, as in Kak and Slaney) and density.
type ellipsoidRow struct {
	center, axes fdk.Vec3
	angleDegrees float64
	density      float64
}

// sheppLogan3D is the 3D Shepp-Logan head of Kak and Slaney ("Principles of
// Computerized Tomographic Imaging", 1988, section 3.5), read from RTK's
// src/rtkSheppLoganPhantom.cxx (RTKConsortium/RTK, including its 2022 fix
// "BUG: fix i-th ellipsoid", 33f8275b, which set the ninth y semi-axis to
// 0.1). RTK rotates about its y axis, so its rows (x, y, z) are stored here
// as (x, z, y): RTK's rotation axis becomes our z and the axial ellipses stay
// in our x-y plane. RTK turns an ellipsoid's first axis from +x towards its
// +z, which is our +y, so its angles are counter-clockwise here unchanged.
// The skull has density 2 and the brain 2-0.98 = 1.02.
var sheppLogan3D = []ellipsoidRow{
	{fdk.Vec3{0, 0, 0}, fdk.Vec3{0.69, 0.92, 0.90}, 0, 2},
	{fdk.Vec3{0, 0, 0}, fdk.Vec3{0.6624, 0.874, 0.880}, 0, -0.98},
	{fdk.Vec3{-0.22, 0, -0.25}, fdk.Vec3{0.41, 0.16, 0.21}, 108, -0.02},
	{fdk.Vec3{0.22, 0, -0.25}, fdk.Vec3{0.31, 0.11, 0.22}, 72, -0.02},
	{fdk.Vec3{0, 0.35, -0.25}, fdk.Vec3{0.21, 0.25, 0.50}, 0, 0.02},
	{fdk.Vec3{0, 0.10, -0.25}, fdk.Vec3{0.046, 0.046, 0.046}, 0, 0.02},
	{fdk.Vec3{-0.08, -0.65, -0.25}, fdk.Vec3{0.046, 0.023, 0.02}, 0, 0.01},
	{fdk.Vec3{0.06, -0.65, -0.25}, fdk.Vec3{0.046, 0.023, 0.02}, 90, 0.01},
	{fdk.Vec3{0.06, -0.105, 0.625}, fdk.Vec3{0.056, 0.04, 0.1}, 90, 0.02},
	{fdk.Vec3{0, 0.1, 0.625}, fdk.Vec3{0.056, 0.056, 0.1}, 0, -0.02},
}

// modifiedSheppLogan3D is the higher-contrast head: Toft's modified
// densities ("The Radon Transform: Theory and Implementation", PhD thesis,
// 1996, pp. 199-200) on the ellipses of the 2D Shepp-Logan head, given z
// semi-axes by M. Schabel's phantom3d (MATLAB Central 9416). The table is
// the one ODL ships (odlgroup/odl, src/odl/core/phantom/transmission.py,
// _shepp_logan_ellipsoids_3d with _modified_shepp_logan_ellipsoids), which
// centres every ellipsoid at z = 0 and drops phantom3d's 10° tilt of the two
// eyes' ellipsoids, so that every object turns about z only. Angles follow
// the same counter-clockwise convention as [SheppLogan], so the in-plane
// shapes have the same orientation. The skull has density 1, the brain 0.2.
var modifiedSheppLogan3D = []ellipsoidRow{
	{fdk.Vec3{0, 0, 0}, fdk.Vec3{0.69, 0.92, 0.81}, 0, 1},
	{fdk.Vec3{0, -0.0184, 0}, fdk.Vec3{0.6624, 0.874, 0.78}, 0, -0.8},
	{fdk.Vec3{0.22, 0, 0}, fdk.Vec3{0.11, 0.31, 0.22}, -18, -0.2},
	{fdk.Vec3{-0.22, 0, 0}, fdk.Vec3{0.16, 0.41, 0.28}, 18, -0.2},
	{fdk.Vec3{0, 0.35, 0}, fdk.Vec3{0.21, 0.25, 0.41}, 0, 0.1},
	{fdk.Vec3{0, 0.1, 0}, fdk.Vec3{0.046, 0.046, 0.05}, 0, 0.1},
	{fdk.Vec3{0, -0.1, 0}, fdk.Vec3{0.046, 0.046, 0.05}, 0, 0.1},
	{fdk.Vec3{-0.08, -0.605, 0}, fdk.Vec3{0.046, 0.023, 0.05}, 0, 0.1},
	{fdk.Vec3{0, -0.606, 0}, fdk.Vec3{0.023, 0.023, 0.02}, 0, 0.1},
	{fdk.Vec3{0.06, -0.605, 0}, fdk.Vec3{0.023, 0.046, 0.02}, 0, 0.1},
}

func ellipsoids(rows []ellipsoidRow, s float64) Phantom {
	p := make(Phantom, len(rows))
	for i, r := range rows {
		p[i] = Object{Kind: Ellipsoid, Center: scale(r.center, s), Axes: scale(r.axes, s),
			Angle: r.angleDegrees * math.Pi / 180, Density: r.density}
	}
	return p
}

// SheppLogan returns the 3D Shepp-Logan head of Kak and Slaney as RTK uses
// it, with the unit table scaled by s mm: it fits in a box of half-sides
// 0.69s, 0.92s and 0.90s, and its peak density is 2.
func SheppLogan(s float64) Phantom { return ellipsoids(sheppLogan3D, s) }

// ModifiedSheppLogan returns Toft's higher-contrast 3D Shepp-Logan head (see
// modifiedSheppLogan3D for the table's source) scaled by s mm; its peak
// density is 1.
func ModifiedSheppLogan(s float64) Phantom { return ellipsoids(modifiedSheppLogan3D, s) }

// waterCylinder is a uniform cylinder of water-like attenuation (0.02/mm,
// about water's at 60 keV) of radius and half-height 0.6s: a flat target for
// checking cupping and the reconstruction's absolute scale.
func waterCylinder(s float64) Phantom {
	return Phantom{{Kind: Cylinder, Axes: fdk.Vec3{0.6 * s, 0.6 * s, 0.6 * s}, Density: 0.02}}
}

// spheres is five disjoint spheres of different densities, two of them off
// the mid-plane, to check contrast and cone-beam geometry at once.
func spheres(s float64) Phantom {
	ball := func(x, y, z, r, rho float64) Object {
		return Object{Kind: Ellipsoid, Center: fdk.Vec3{x * s, y * s, z * s},
			Axes: fdk.Vec3{r * s, r * s, r * s}, Density: rho}
	}
	return Phantom{
		ball(0, 0, 0, 0.25, 0.02),
		ball(0.5, 0, 0, 0.15, 0.01),
		ball(-0.5, 0, 0, 0.15, 0.03),
		ball(0, 0.5, 0.3, 0.1, 0.04),
		ball(0, -0.5, -0.3, 0.1, 0.05),
	}
}

var named = []struct {
	name  string
	build func(s float64) Phantom
}{
	{"shepp-logan", SheppLogan},
	{"modified-shepp-logan", ModifiedSheppLogan},
	{"cylinder", waterCylinder},
	{"spheres", spheres},
}

// ErrUnknown is wrapped by [ByName] for a name it does not know.
var ErrUnknown = errors.New("phantom: unknown phantom")

// Names lists the phantoms [ByName] builds.
func Names() []string {
	out := make([]string, len(named))
	for i, n := range named {
		out[i] = n.name
	}
	return out
}

// ByName builds the named phantom scaled by s mm (s is the unit length of the
// phantom's table). It returns an error wrapping [ErrUnknown] that lists the
// valid names when name is not one of [Names].
func ByName(name string, s float64) (Phantom, error) {
	for _, n := range named {
		if n.name == name {
			return n.build(s), nil
		}
	}
	return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}
