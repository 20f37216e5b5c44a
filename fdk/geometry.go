package fdk

import (
	"errors"
	"fmt"
	"math"
)

// Detector describes the flat-panel detector: its image size and pixel pitch.
type Detector struct {
	Cols   int     `json:"cols"`
	Rows   int     `json:"rows"`
	PitchU float64 `json:"pitch_u_mm"` // column spacing
	PitchV float64 `json:"pitch_v_mm"` // row spacing
}

// Pixels returns the number of pixels in one projection image.
func (d Detector) Pixels() int { return d.Cols * d.Rows }

// Geometry is a circular cone-beam acquisition: one source-detector pair
// turning about the z axis. When Matrices is set it gives each view's
// projection explicitly and Angles, OffsetU, OffsetV, COROffset and Tilt are
// ignored; SID, SDD and the detector are still needed for the FDK weights.
type Geometry struct {
	SID      float64 `json:"sid_mm"` // source to isocentre
	SDD      float64 `json:"sdd_mm"` // source to detector
	Detector `json:"detector"`
	// OffsetU and OffsetV place the detector centre relative to the foot of
	// the central ray, in detector millimetres. A half-fan (displaced)
	// detector has |OffsetU| of about half its width.
	OffsetU float64 `json:"offset_u_mm"`
	OffsetV float64 `json:"offset_v_mm"`
	// COROffset shifts source and detector together along the column
	// direction, off the rotation axis.
	COROffset float64 `json:"cor_offset_mm"`
	// Tilt rotates the detector in its own plane about its centre.
	Tilt float64 `json:"tilt_rad"`
	// Angles are the source angles of the views, in any order and either
	// direction of rotation.
	Angles   []float64 `json:"angles_rad,omitempty"`
	Matrices []Matrix  `json:"matrices,omitempty"`
}

// ErrGeometry is wrapped by every geometry validation error.
var ErrGeometry = errors.New("invalid geometry")

func geomErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrGeometry, field, fmt.Sprintf(format, args...))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Validate reports the first field that makes the geometry impossible.
func (g *Geometry) Validate() error {
	checks := []struct {
		name string
		v    float64
	}{{"sid_mm", g.SID}, {"sdd_mm", g.SDD}, {"pitch_u_mm", g.PitchU}, {"pitch_v_mm", g.PitchV},
		{"offset_u_mm", g.OffsetU}, {"offset_v_mm", g.OffsetV}, {"cor_offset_mm", g.COROffset}, {"tilt_rad", g.Tilt}}
	for _, c := range checks {
		if !finite(c.v) {
			return geomErr(c.name, "not a finite number (%v)", c.v)
		}
	}
	switch {
	case g.SID <= 0:
		return geomErr("sid_mm", "must be positive, got %g", g.SID)
	case g.SDD <= g.SID:
		return geomErr("sdd_mm", "must exceed sid_mm (%g), got %g", g.SID, g.SDD)
	case g.PitchU <= 0 || g.PitchV <= 0:
		return geomErr("pitch", "must be positive, got %g x %g", g.PitchU, g.PitchV)
	case g.Cols < 2 || g.Rows < 1:
		return geomErr("detector", "needs at least 2 columns and 1 row, got %dx%d", g.Cols, g.Rows)
	case math.Abs(g.Tilt) >= math.Pi/4:
		return geomErr("tilt_rad", "in-plane tilt %g rad is not a small correction", g.Tilt)
	}
	if len(g.Matrices) > 0 {
		return g.validateMatrices()
	}
	if len(g.Angles) == 0 {
		return geomErr("angles_rad", "no views")
	}
	for i, a := range g.Angles {
		if !finite(a) {
			return geomErr(fmt.Sprintf("angles_rad[%d]", i), "not a finite number")
		}
	}
	return nil
}

func (g *Geometry) validateMatrices() error {
	for i := range g.Matrices {
		for _, row := range g.Matrices[i] {
			for _, v := range row {
				if !finite(v) {
					return geomErr(fmt.Sprintf("matrices[%d]", i), "not a finite number")
				}
			}
		}
		if _, err := g.Matrices[i].Source(); err != nil {
			return geomErr(fmt.Sprintf("matrices[%d]", i), "%v", err)
		}
	}
	return nil
}

// NumViews returns the number of projections.
func (g *Geometry) NumViews() int {
	if len(g.Matrices) > 0 {
		return len(g.Matrices)
	}
	return len(g.Angles)
}

// View is everything the FDK stages need about one projection.
type View struct {
	P      Matrix  // world -> pixel, depth-normalised (w = 1 at the isocentre's depth)
	Source Vec3    // source position
	Angle  float64 // source azimuth atan2(y, x), unwrapped along the view order
	// PrincipalU and PrincipalV are the pixel where the perpendicular from the
	// source meets the detector: the origin of the cosine and fan angles.
	PrincipalU, PrincipalV float64
}

// Views derives the per-view matrices and weights' reference points.
func (g *Geometry) Views() ([]View, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	n := g.NumViews()
	views := make([]View, n)
	prev := 0.0
	for i := range views {
		m := g.matrix(i)
		if err := m.normalizeDepth(g.SID); err != nil {
			return nil, geomErr(fmt.Sprintf("view %d", i), "%v", err)
		}
		src, _ := m.Source()
		axis := Vec3{m[2][0], m[2][1], m[2][2]}.scale(g.SID * g.SID) // |axis| = SID
		pu, pv, _ := m.Project(src.add(axis))
		a := math.Atan2(src[1], src[0])
		if i > 0 { // unwrap so that consecutive views differ by less than π
			a += 2 * math.Pi * math.Round((prev-a)/(2*math.Pi))
		}
		prev = a
		views[i] = View{P: m, Source: src, Angle: a, PrincipalU: pu, PrincipalV: pv}
	}
	return views, nil
}

// matrix builds view i's projection matrix (not yet depth-normalised).
func (g *Geometry) matrix(i int) Matrix {
	if len(g.Matrices) > 0 {
		return g.Matrices[i]
	}
	th := g.Angles[i]
	cs, sn := math.Cos(th), math.Sin(th)
	mag := g.SDD / g.SID
	// Rows: detector u and v in mm at the detector (times w), and w.
	b := Matrix{
		{-sn * mag, cs * mag, 0, -g.COROffset * mag},
		{0, 0, mag, 0},
		{-cs / g.SID, -sn / g.SID, 0, 1},
	}
	// Detector mm -> pixel: remove the offset, undo the tilt, scale, centre.
	ct, st := math.Cos(g.Tilt), math.Sin(g.Tilt)
	c0, r0 := float64(g.Cols-1)/2, float64(g.Rows-1)/2
	a := [3][3]float64{
		{ct / g.PitchU, st / g.PitchU, 0},
		{-st / g.PitchV, ct / g.PitchV, 0},
		{0, 0, 1},
	}
	a[0][2] = c0 - a[0][0]*g.OffsetU - a[0][1]*g.OffsetV
	a[1][2] = r0 - a[1][0]*g.OffsetU - a[1][1]*g.OffsetV
	var m Matrix
	for r := range 3 {
		for k := range 4 {
			m[r][k] = a[r][0]*b[0][k] + a[r][1]*b[1][k] + a[r][2]*b[2][k]
		}
	}
	return m
}
