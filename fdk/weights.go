package fdk

import (
	"fmt"
	"math"
	"sort"
)

// Scan summarises the angular coverage of a set of views.
type Scan struct {
	// Full is true when the views go all the way round: the largest gap
	// between neighbouring views is small enough that its neighbours'
	// larger share weights it better than Parker's short-scan weights
	// would (see AnalyzeScan).
	Full bool
	// Gap is the largest angle between neighbouring views and Step the
	// median one, in radians.
	Gap, Step float64
	// Start is the first angle counter-clockwise from the largest gap, and
	// Arc the extent from there to the last view, 2π - Gap: the arc of a
	// short scan.
	Start, Arc float64
	// Spacing is each view's share of the angular integral: half the angle
	// between its two neighbours, which corrects unevenly spaced views.
	Spacing []float64
}

// AnalyzeScan finds the coverage of the view angles, whatever their order
// and direction of rotation (weighting depends only on which rays were
// measured, not on when), and whether it is a full or a short scan for a
// fan angle of fan radians (twice the largest angle between a ray and the
// ray through the rotation axis). A scan is short when its largest gap is
// over three quarters of the fan angle, or two and a half median steps if
// that is more: a full scan missing a few views or with jittered angles is
// an irregular full scan, weighted by angular spacing (see shortScanGap for
// the measurements behind the rule).
func AnalyzeScan(angles []float64, fan float64) (Scan, error) {
	return analyzeScan(angles, func(s Scan) bool { return s.Gap <= shortScanGap(s.Step, fan) })
}

// analyzeScan is AnalyzeScan with the decision between full and short left
// to full, which sees the scan's Gap and Step.
func analyzeScan(angles []float64, full func(Scan) bool) (Scan, error) {
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
	s := Scan{Gap: gaps[largest], Step: sorted[n/2], Spacing: make([]float64, n)}
	if s.Step == 0 {
		return Scan{}, fmt.Errorf("%w: angles: most views repeat the same angle", ErrGeometry)
	}
	s.Start = mod[idx[(largest+1)%n]]
	s.Arc = 2*math.Pi - s.Gap
	s.Full = full(s)
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
	return s, nil
}

// Weights applies the FDK pre-weighting to projections before filtering:
// cosine weights, the view's angular share, and redundancy weights: Parker's
// for a short scan, Wang's for a displaced detector, both combined for a
// short scan on a displaced detector.
type Weights struct {
	geom  *Geometry
	views []View
	scan  Scan
	// Half fan angle available for the short scan's overscan: (Arc - π)/2.
	delta float64
	// halfFan is the largest angle between a ray of view 0 and its ray
	// through the rotation axis, radians: half the fan the reconstruction
	// needs, a displaced detector's widened to be symmetric.
	halfFan float64
	// asymmetry is how many columns longer one side of the detector is
	// than the other, from the column that sees the rotation axis.
	asymmetry float64
	// displaced: the detector is not centred on the rotation axis, so the
	// rays beyond its short side are measured once (Wang weights). A short
	// scan counts as displaced only when the asymmetry is wider than Wang's
	// ramp: on a slightly off-centre detector (a centre-of-rotation offset)
	// the combined weights would change steeply across a narrow strip at
	// the edge, while Parker's alone are exact over the measured detector's
	// field of view, since every ray through it lies in the band both
	// sides see. Measured on RTK's short scan 4 and 10 columns off centre, the two
	// reconstruct that field of view equally (0.04235 and 0.04235, 0.03800
	// and 0.03796 mean error).
	displaced bool

	cosine []float32 // cosine image of view 0, shared by views with its principal point
	// columns[v] is view v's angular share times its redundancy weight,
	// per column: computed once, since every bin of a view needs it and
	// each Parker column costs a ray through the inverted matrix.
	columns [][]float32
}

// NewWeights prepares the weights for geom's views. It fails with
// ErrGeometry when the angles cannot be weighted: fewer than 2 distinct
// views, or a short scan of less than 180 degrees.
func NewWeights(geom *Geometry, views []View) (*Weights, error) {
	w := &Weights{geom: geom, views: views}
	err := w.build(func(s Scan) bool { return s.Gap <= shortScanGap(s.Step, 2*w.halfFan) })
	if err != nil {
		return nil, err
	}
	return w, nil
}

// build analyses the scan, full deciding whether it is full (it may read
// w.halfFan), and computes the weights.
func (w *Weights) build(full func(Scan) bool) error {
	w.halfFan, _ = w.edgeFans()
	angles := make([]float64, len(w.views))
	for i := range w.views {
		angles[i] = w.views[i].Angle
	}
	scan, err := analyzeScan(angles, full)
	if err != nil {
		return err
	}
	w.scan = scan
	w.cosine = w.cosineImage(0)
	if !scan.Full {
		w.delta = (scan.Arc - math.Pi) / 2
		if w.delta < 0 {
			return fmt.Errorf("%w: angles: a short scan of %.1f deg is less than 180 deg", ErrGeometry, scan.Arc*180/math.Pi)
		}
	}
	iso := w.isoColumn(0)
	left, right := iso+0.5, float64(w.geom.Cols)-0.5-iso
	w.asymmetry = math.Abs(left - right)
	w.displaced = w.asymmetry > 1 && (scan.Full || w.asymmetry > wangRamp)
	w.columns = make([][]float32, len(w.views))
	for v := range w.views {
		scale := scan.Spacing[v]
		if scan.Full {
			scale /= 2 // every ray is measured twice over 360 degrees
		}
		w.columns[v] = w.columnWeights(v, scale)
	}
	return nil
}

// Scan returns the angular coverage the weights were built for.
func (w *Weights) Scan() Scan { return w.scan }

// Displaced reports whether displaced-detector (Wang) weights are applied,
// alone for a full scan or combined with Parker's for a short one.
func (w *Weights) Displaced() bool { return w.displaced }

// Notes describes the weighting chosen for the scan and why, and warns
// when a short scan lacks data: shorter than the 180 degrees plus the fan
// angle Parker's weights need, or on a displaced detector.
func (w *Weights) Notes() (info, warnings []string) {
	return []string{w.describe()}, w.warnings()
}

// describe says what the scan is, why, and which weights it gets.
func (w *Weights) describe() string {
	s := w.scan
	fan := 2 * w.halfFan
	limit := shortScanGap(s.Step, fan)
	rule := fmt.Sprintf("%.3g times the %.1f degree fan", shortScanFans, deg(fan))
	if limit > shortScanFans*fan {
		rule = fmt.Sprintf("%.3g times the median step", shortScanSteps)
	}
	uneven := s.Full && s.Gap > unevenGap*s.Step
	var note string
	switch {
	case !s.Full:
		note = fmt.Sprintf("short scan of %.1f degrees (its %.1f degree gap is over the %.1f up to which a scan is full: %s)",
			deg(s.Arc), deg(s.Gap), deg(limit), rule)
	case uneven:
		note = fmt.Sprintf("full scan with uneven spacing (largest gap %.1f degrees, median %.2f; up to %.1f is full: %s)",
			deg(s.Gap), deg(s.Step), deg(limit), rule)
	default:
		note = fmt.Sprintf("full scan (%d views %.2f degrees apart)", len(w.views), deg(s.Step))
	}
	switch {
	case w.displaced:
		left, right := w.Extension()
		note += fmt.Sprintf(" on a displaced detector (the rotation axis at column %.1f of %d, widened by %d zero columns)",
			w.isoColumn(0), w.geom.Cols, left+right)
	case w.asymmetry > 1:
		note += fmt.Sprintf(" on a detector %.1f columns off centre, less than Wang's %d-column ramp (field of view: the measured detector's)",
			w.asymmetry/2, wangRamp)
	}
	switch {
	case !s.Full && w.displaced:
		return note + ": Parker and Wang weights combined"
	case !s.Full:
		return note + ": Parker weights"
	case uneven && w.displaced:
		return note + ": angular spacing and Wang weights"
	case uneven:
		return note + ": angular spacing weights"
	case w.displaced:
		return note + ": Wang weights"
	}
	return note
}

// warnings says where a short scan lacks data.
func (w *Weights) warnings() []string {
	s := w.scan
	var out []string
	if !s.Full && w.displaced {
		_, r := w.edgeFans()
		r = w.sourceRadius() * math.Sin(r)
		out = append(out, fmt.Sprintf("the short scan on a displaced detector measures lines more than %.1f mm from the axis (beyond the short side's reach) only from views that see them on the detector's long side; the views in the %.1f degree gap are missing, so beyond %.1f mm the part of the volume on their long side lacks data: expect artefacts there",
			r, deg(s.Gap), r))
	}
	if !s.Full && w.halfFan > w.delta+1e-9 {
		out = append(out, fmt.Sprintf("the short scan covers %.1f degrees, less than the %.1f (180 plus the fan angle) Parker weights need: expect artefacts",
			deg(s.Arc), 180+deg(2*w.halfFan)))
	}
	return out
}

// edgeFans returns the angles between view 0's ray through the rotation
// axis and its rays through the outer edges of the detector's long and
// short sides, in radians.
func (w *Weights) edgeFans() (long, short float64) {
	a, b := math.Abs(w.fanAngle(0, -0.5)), math.Abs(w.fanAngle(0, float64(w.geom.Cols)-0.5))
	return max(a, b), min(a, b)
}

// sourceRadius returns view 0's source's distance from the rotation axis.
func (w *Weights) sourceRadius() float64 {
	src := w.views[0].Source
	return math.Hypot(src[0], src[1])
}

// unevenGap is the largest gap, in median steps, of a full scan that Notes
// calls evenly spaced.
const unevenGap = 1.5

func deg(rad float64) float64 { return rad * 180 / math.Pi }

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
func (w *Weights) Apply(v int, p []float32) { w.ApplyRows(v, p, 0) }

// ApplyRows is Apply for p holding len(p)/Cols rows of the detector from
// row first on (a RowBand's).
func (w *Weights) ApplyRows(v int, p []float32, first int) {
	cols := w.geom.Cols
	colW := w.columns[v]
	cos := w.cosineImage(v)
	for r := range len(p) / cols {
		row := p[r*cols : (r+1)*cols]
		cr := cos[(first+r)*cols : (first+r+1)*cols]
		for c := range row {
			row[c] *= cr[c] * colW[c]
		}
	}
}

// columnWeights returns the per-column product of scale and the
// redundancy weight of view v.
func (w *Weights) columnWeights(v int, scale float64) []float32 {
	out := make([]float32, w.geom.Cols)
	for c := range out {
		k := scale
		switch {
		case !w.scan.Full && w.displaced:
			k *= combine(w.parker(v, float64(c)), w.wangWeight(v, float64(c))/2)
		case !w.scan.Full:
			k *= w.parker(v, float64(c))
		case w.displaced:
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

// combine returns the redundancy weight of a ray from two weightings that
// each split its line between the ray and its conjugate, p and 1 - p for
// the arc (Parker's) and q and 1 - q for the detector (Wang's, halved):
// pq / (pq + (1-p)(1-q)). The ray and its conjugate still add up to 1; the
// weight is p on a centred detector (q = 1/2), q over a full scan
// (p = 1/2), and 1 for a ray whose conjugate either leaves unmeasured (p or
// q = 1). Where the denominator vanishes, one gives the conjugate
// everything and the other leaves it unmeasured: the ray is its line's only
// measurement.
func combine(p, q float64) float64 {
	d := p*q + (1-p)*(1-q)
	if d == 0 {
		return 1
	}
	return p * q / d
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
	if !w.displaced {
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

// shortScanGap returns the largest gap between neighbouring views, in
// radians, of a scan weighted as full, given the median step between views
// and the fan angle: shortScanFans fans, or shortScanSteps steps when that
// is more (a dropped view, or angles jittered by up to half a step, leave
// gaps of up to two steps however sparse the views).
//
// A gap costs either weighting something. With angular spacing weights the
// views beside it stand in for the missing ones, and the error grows with
// the gap. Parker's weights use the conjugate rays instead but weight the
// two rays of a pair unequally, which in a cone beam, where the two are not
// quite the same line, costs a nearly constant error. Measured on RTK's
// Shepp-Logan (128³ voxels of 2 mm, mean absolute error) with consecutive
// views of a full scan removed, spacing weights win up to a gap of
//
//	SID  columns  views  fan    spacing wins up to
//	600  128      180    24.1°  18.8° (0.78 fans; by PSNR 16°, 0.66)
//	1200 128      180    12.2°  12.7° (1.04 fans)
//	600  192      180    35.5°  18.7° (0.53 fans)
//	600  128       90    24.1°  over 28° (1.16 fans)
//
// (SDD twice the SID, 4 mm pixels). In the first, RTK's full scan, whose
// complete error is 0.0286, spacing and Parker weights give 0.0290 and
// 0.0382 with a 4° gap (one view missing), 0.0323 and 0.0385 with 10°,
// 0.0381 and 0.0388 with 18°, 0.0453 and 0.0392 with 26°, 0.0530 and 0.0395
// with 34°. The crossover moves with the cone angle and the number of
// views as well as the fan, so no rule on the fan alone is exact: three
// quarters of the fan is RTK geometry's crossover, and in the other three
// it picks a weighting at most 18 % worse than the better one. (RTK calls
// a scan short from a 20° gap whatever its geometry.)
func shortScanGap(step, fan float64) float64 {
	return math.Max(shortScanFans*fan, shortScanSteps*step)
}

const (
	shortScanFans  = 0.75
	shortScanSteps = 2.5
)
