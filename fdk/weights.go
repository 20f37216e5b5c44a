package fdk

import (
	"fmt"
	"math"
	"sort"
)

// Scan summarises the angular coverage of a set of views.
type Scan struct {
	// Full is true when the views go all the way round: no gap larger than
	// 1.5 times the median spacing.
	Full bool
	// Start is the first angle of a short scan, counter-clockwise from the
	// largest gap, and Arc its extent from first to last view.
	Start, Arc float64
	// Spacing is each view's share of the angular integral: half the angle
	// between its two neighbours, which corrects unevenly spaced views.
	Spacing []float64
}

// AnalyzeScan finds the coverage of the view angles, whatever their order
// and direction of rotation: weighting depends only on which rays were
// measured, not on when.
func AnalyzeScan(angles []float64) (Scan, error) {
	n := len(angles)
	if n < 2 {
		return Scan{}, fmt.Errorf("%w: angles: need at least 2 views, got %d", ErrGeometry, n)
	}
	idx := make([]int, n)
	mod := make([]float64, n)
	for i, a := range angles {
		idx[i] = i
		mod[i] = math.Mod(math.Mod(a, 2*math.Pi)+2*math.Pi, 2*math.Pi)
	}
	sort.Slice(idx, func(a, b int) bool { return mod[idx[a]] < mod[idx[b]] })
	gaps := make([]float64, n) // gaps[k]: from sorted k to sorted k+1
	for k := range n {
		next := mod[idx[(k+1)%n]]
		if k == n-1 {
			next += 2 * math.Pi
		}
		gaps[k] = next - mod[idx[k]]
	}
	largest := 0
	for k := range gaps {
		if gaps[k] > gaps[largest] {
			largest = k
		}
	}
	sorted := append([]float64(nil), gaps...)
	sort.Float64s(sorted)
	median := sorted[n/2]
	if median == 0 {
		return Scan{}, fmt.Errorf("%w: angles: most views repeat the same angle", ErrGeometry)
	}
	s := Scan{Full: gaps[largest] <= 1.5*median, Spacing: make([]float64, n)}
	for k := range n {
		before, after := gaps[(k+n-1)%n], gaps[k]
		if !s.Full && k == (largest+1)%n {
			before = after // first view of a short scan
		}
		if !s.Full && k == largest {
			after = before // last view
		}
		s.Spacing[idx[k]] = (before + after) / 2
	}
	if !s.Full {
		s.Start = mod[idx[(largest+1)%n]]
		s.Arc = 2*math.Pi - gaps[largest]
	}
	return s, nil
}

// Weights applies the FDK pre-weighting to projections before filtering:
// cosine weights, the view's angular share, and Parker (short scan) or Wang
// (displaced detector, full scan) redundancy weights.
type Weights struct {
	geom  *Geometry
	views []View
	scan  Scan
	// Half fan angle available for the short scan's overscan: (Arc - π)/2.
	delta float64
	wang  bool // full scan with an off-centre detector

	cosine []float32 // cosine image of view 0, shared by views with its principal point
	// columns[v] is view v's angular share times its Parker or Wang weight,
	// per column: computed once, since every bin of a view needs it and
	// each Parker column costs a ray through the inverted matrix.
	columns [][]float32
}

// NewWeights prepares the weights for geom's views.
func NewWeights(geom *Geometry, views []View) (*Weights, error) {
	angles := make([]float64, len(views))
	for i := range views {
		angles[i] = views[i].Angle
	}
	scan, err := AnalyzeScan(angles)
	if err != nil {
		return nil, err
	}
	w := &Weights{geom: geom, views: views, scan: scan}
	w.cosine = w.cosineImage(0)
	if !scan.Full {
		w.delta = (scan.Arc - math.Pi) / 2
		if w.delta < 0 {
			return nil, fmt.Errorf("%w: angles: a short scan of %.1f deg is less than 180 deg", ErrGeometry, scan.Arc*180/math.Pi)
		}
	} else {
		iso := w.isoColumn(0)
		left, right := iso+0.5, float64(geom.Cols)-0.5-iso
		w.wang = math.Abs(left-right) > 1
	}
	w.columns = make([][]float32, len(views))
	for v := range views {
		scale := scan.Spacing[v]
		if scan.Full {
			scale /= 2 // every ray is measured twice over 360 degrees
		}
		w.columns[v] = w.columnWeights(v, scale)
	}
	return w, nil
}

// Scan returns the angular coverage the weights were built for.
func (w *Weights) Scan() Scan { return w.scan }

// Displaced reports whether Wang displaced-detector weights are applied.
func (w *Weights) Displaced() bool { return w.wang }

// Notes describes the weighting chosen for the scan, and warns when a short
// scan is too short for Parker's weights: they need 180 degrees plus the
// fan angle, and a shorter arc leaves rays unmeasured.
func (w *Weights) Notes() (info, warnings []string) {
	deg := func(rad float64) float64 { return rad * 180 / math.Pi }
	switch {
	case !w.scan.Full:
		info = append(info, fmt.Sprintf("short scan of %.1f degrees: Parker weights", deg(w.scan.Arc)))
		fan := 0.0
		for _, c := range []float64{-0.5, float64(w.geom.Cols) - 0.5} {
			fan = math.Max(fan, math.Abs(w.fanAngle(0, c)))
		}
		if fan > w.delta+1e-9 {
			warnings = append(warnings, fmt.Sprintf("the short scan covers %.1f degrees, less than the %.1f (180 plus the fan angle) Parker weights need: expect artefacts",
				deg(w.scan.Arc), 180+2*deg(fan)))
		}
	case w.wang:
		info = append(info, "full scan with a displaced detector: Wang weights")
	default:
		info = append(info, "full scan")
	}
	return info, warnings
}

// isoColumn returns the detector column through which view v sees the
// rotation axis (at the isocentre's height).
func (w *Weights) isoColumn(v int) float64 {
	c, _, _ := w.views[v].P.Project(Vec3{})
	return c
}

// fanAngle returns the counter-clockwise angle, seen from +z, from the ray
// through the rotation axis to the ray through column col of view v: the γ of
// Parker's weights, whose conjugate ray is at β + π + 2γ.
func (w *Weights) fanAngle(v int, col float64) float64 {
	vw := &w.views[v]
	_, row, _ := vw.P.Project(Vec3{})
	d, err := vw.P.Ray(col, row)
	if err != nil {
		return 0
	}
	c := vw.Source.scale(-1)
	return math.Atan2(c[0]*d[1]-c[1]*d[0], c[0]*d[0]+c[1]*d[1])
}

// Apply multiplies projection p of view v, row-major Cols x Rows, by all of
// its weights. It is safe for concurrent use.
func (w *Weights) Apply(v int, p []float32) {
	cols := w.geom.Cols
	colW := w.columns[v]
	cos := w.cosineImage(v)
	for r := range w.geom.Rows {
		row := p[r*cols : (r+1)*cols]
		cr := cos[r*cols : (r+1)*cols]
		for c := range row {
			row[c] *= cr[c] * colW[c]
		}
	}
}

// columnWeights returns the per-column product of scale and the Parker or
// Wang weight of view v.
func (w *Weights) columnWeights(v int, scale float64) []float32 {
	out := make([]float32, w.geom.Cols)
	for c := range out {
		k := scale
		switch {
		case !w.scan.Full:
			k *= w.parker(v, float64(c))
		case w.wang:
			k *= w.wangWeight(v, float64(c))
		}
		out[c] = float32(k)
	}
	return out
}

// parker is the short-scan weight of Parker (Med. Phys. 9, 254, 1982) for the
// generalised arc π + 2δ, with β measured from the start of the arc.
func (w *Weights) parker(v int, col float64) float64 {
	beta := math.Mod(w.views[v].Angle-w.scan.Start+4*math.Pi, 2*math.Pi)
	g, d := w.fanAngle(v, col), w.delta
	s := func(x float64) float64 { x = math.Sin(math.Pi / 4 * x); return x * x }
	switch {
	case beta < 0 || beta > math.Pi+2*d:
		return 0
	case beta < 2*(d-g):
		return s(beta / (d - g))
	case beta <= math.Pi-2*g:
		return 1
	default:
		return s((math.Pi + 2*d - beta) / (d + g))
	}
}

// wangWeight is the displaced-detector weight of Wang (Med. Phys. 29, 1464,
// 2002): across the band of columns that both a view and its opposite see
// (|u| < Δ from the central ray) the two weights add to 2, the weight is 2
// where only this view sees the ray, 0 where only the opposite one does.
// The 2 undoes the full scan's halving for rays measured once.
//
// Wang ramps over the whole band. Here the ramps span at most
// wangRamp pixels at each end of it and the weight is 1 between: a slightly
// off-centre detector (a centre-of-rotation offset, a quarter-pixel shift)
// then keeps averaging its redundant rays, which halves the aliasing instead
// of throwing one of each pair away.
func (w *Weights) wangWeight(v int, col float64) float64 {
	iso := w.isoColumn(v)
	left, right := iso+0.5, float64(w.geom.Cols)-0.5-iso
	overlap := math.Min(left, right)
	ramp := math.Min(overlap, wangRamp)
	u := col - iso // pixels from the central ray, positive towards the long side
	if left > right {
		u = -u
	}
	s := func(t float64) float64 { t = math.Sin(math.Pi / 2 * t); return t * t }
	switch {
	case u <= -overlap:
		return 0
	case u >= overlap:
		return 2
	case u < -overlap+ramp:
		return s((u + overlap) / ramp)
	case u > overlap-ramp:
		return 2 - s((overlap-u)/ramp)
	}
	return 1
}

// wangRamp is the widest ramp of the displaced-detector weights, in pixels:
// wide enough that the ramp-filtered weights stay smooth, narrow enough to
// keep most redundant pairs.
const wangRamp = 16

// Extension returns the zero columns to add on each side of the detector
// before filtering: with Wang weights the ramp-filtered projection does not
// end at the short side's edge, and its tail there carries the part of the
// image the opposite views supply. The extension makes the detector
// symmetric about the central ray so that the tail is kept and
// back-projected.
func (w *Weights) Extension() (left, right int) {
	if !w.wang {
		return 0, 0
	}
	iso := w.isoColumn(0)
	l, r := iso+0.5, float64(w.geom.Cols)-0.5-iso
	if l < r {
		return int(math.Ceil(r - l)), 0
	}
	return 0, int(math.Ceil(l - r))
}

// Columns returns view v's per-column weights: its angular share times its
// Parker or Wang weight. Apply multiplies every row by them and by the
// cosine image; a GPU can do the same with the two factors uploaded once.
func (w *Weights) Columns(v int) []float32 { return w.columns[v] }

// CosineImage returns view v's cosine weights, row-major. Do not modify it:
// views may share it.
func (w *Weights) CosineImage(v int) []float32 { return w.cosineImage(v) }

// cosineImage returns the cosine weights SDD/sqrt(SDD² + u² + v²) of view v.
// Views that share the first view's principal point (every view of a
// circular orbit) share one precomputed image; others get their own.
func (w *Weights) cosineImage(v int) []float32 {
	vw := &w.views[v]
	// Principal points derived from each view's matrix differ in the last
	// bits even on a circular orbit: a thousandth of a pixel is the same
	// point.
	const same = 1e-3
	if w.cosine != nil && math.Abs(vw.PrincipalU-w.views[0].PrincipalU) < same && math.Abs(vw.PrincipalV-w.views[0].PrincipalV) < same {
		return w.cosine
	}
	g := w.geom
	img := make([]float32, g.Pixels())
	d2 := g.SDD * g.SDD
	for r := range g.Rows {
		dv := (float64(r) - vw.PrincipalV) * g.PitchV
		for c := range g.Cols {
			du := (float64(c) - vw.PrincipalU) * g.PitchU
			img[r*g.Cols+c] = float32(g.SDD / math.Sqrt(d2+du*du+dv*dv))
		}
	}
	return img
}
