package sinogram

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/parallel"
)

// PreprocessOptions tune a Preprocessor. The zero value is the documented
// default: outliers at 6 robust standard deviations, noisy pixels at 12, no
// ring correction.
type PreprocessOptions struct {
	// OutlierSigma: a pixel whose mean flat, dark subtracted, lies more than
	// OutlierSigma robust standard deviations below its chip's median is dead,
	// above it hot; so is a pixel whose mean dark lies that far above the
	// chip's median dark. 0 means 6.
	OutlierSigma float64
	// NoisySigma: with three or more flats, a pixel whose variance over the
	// flats, divided by its mean, lies more than NoisySigma robust standard
	// deviations above its chip's median ratio is noisy. (Photon counting
	// gives a ratio near 1.) 0 means 12.
	NoisySigma float64
	// RingCorrection removes per-pixel offsets from the line integrals (see
	// RingOffsets). It needs every view of a bin before the first is
	// returned, so LineIntegrals reads the bin twice.
	RingCorrection bool
	// RingWidth is the median window, in pixels along a row, that defines a
	// smooth profile for the ring correction (0 means 9).
	RingWidth int
	// Threads bounds the goroutines that read calibration frames and
	// estimate ring offsets (0: all cores).
	Threads int
}

func (o *PreprocessOptions) defaults() error {
	if o.OutlierSigma == 0 {
		o.OutlierSigma = 6
	}
	if o.NoisySigma == 0 {
		o.NoisySigma = 12
	}
	if o.RingWidth == 0 {
		o.RingWidth = 9
	}
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	switch {
	case !(o.OutlierSigma > 0) || math.IsInf(o.OutlierSigma, 0):
		return fmt.Errorf("preprocess: OutlierSigma %g must be positive", o.OutlierSigma)
	case !(o.NoisySigma > 0) || math.IsInf(o.NoisySigma, 0):
		return fmt.Errorf("preprocess: NoisySigma %g must be positive", o.NoisySigma)
	case o.RingWidth < 3:
		return fmt.Errorf("preprocess: RingWidth %d must be at least 3", o.RingWidth)
	}
	return nil
}

// HalfCount is what a pixel whose dark-subtracted count is below half a
// count is given before the logarithm: the logarithm of zero (or of a
// negative count, from dark subtraction) is undefined, and half a count is the
// expected value of the fraction a counter cannot show. Report.Clamped counts
// such pixels.
const HalfCount = 0.5

// Defect says why a detector pixel is not used. Several may apply.
type Defect uint8

const (
	Masked Defect = 1 << iota // listed in the bad-pixel mask
	Dead                      // flat far below its chip's median, or not above the dark
	Hot                       // flat or dark far above its chip's median
	Noisy                     // counts vary between flats far more than counting noise
)

// String names the defects, "dead+noisy" for example, or "good".
func (d Defect) String() string {
	var names []string
	for _, n := range []struct {
		d    Defect
		name string
	}{{Masked, "masked"}, {Dead, "dead"}, {Hot, "hot"}, {Noisy, "noisy"}} {
		if d&n.d != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "good"
	}
	return strings.Join(names, "+")
}

// BadPixel is a defective pixel of a raw frame.
type BadPixel struct {
	X, Y   int // raw frame column and row
	Defect Defect
}

// Report says what preprocessing one view of one bin had to repair.
type Report struct {
	// Clamped counts detector pixels whose dark-subtracted count was below
	// HalfCount and was set to it.
	Clamped int `json:"clamped"`
	// Saturated counts detector pixels at their counter's full scale, left
	// out of this frame like bad pixels.
	Saturated int `json:"saturated"`
	// Bad counts virtual detector pixels whose every detector pixel was bad
	// or saturated; Gap those between chips that no camera position covers.
	// Both are interpolated.
	Bad int `json:"bad"`
	Gap int `json:"gap"`
	// RingCorrected says the ring correction was applied.
	RingCorrected bool `json:"ring_corrected"`
}

// Interpolated returns the number of virtual detector pixels filled by
// interpolation.
func (r Report) Interpolated() int { return r.Bad + r.Gap }

// Add accumulates o into r.
func (r *Report) Add(o Report) {
	r.Clamped += o.Clamped
	r.Saturated += o.Saturated
	r.Bad += o.Bad
	r.Gap += o.Gap
	r.RingCorrected = r.RingCorrected || o.RingCorrected
}

// Preprocessor turns a scan's counts into line integrals, per view and
// energy bin, on the virtual detector of the scan's geometry. It holds the
// flat and dark fields and the bad-pixel map of every bin and camera
// position. Its methods are safe for concurrent use.
type Preprocessor struct {
	scan *Scan
	opts PreprocessOptions
	cal  [][]*camCal // [bin][camera]
	// virt[c][i] is the virtual detector index of raw pixel i of camera c.
	virt    [][]int32
	covered []bool // virtual pixels under some camera's detector pixel
	rings   []ringState
}

// camCal is the calibration of one bin at one camera position.
type camCal struct {
	dark    []float64 // mean dark counts; nil without darks
	logFlat []float64 // log of the mean flat, dark subtracted, scaled to the projection exposure
	defect  []Defect
}

type ringState struct {
	once    sync.Once
	offsets []float32
	err     error
}

// NewPreprocessor reads the scan's flat and dark frames and bad-pixel mask
// and finds the dead, hot and noisy pixels of every bin and camera position.
// Errors wrap ErrCalibration for flats that cannot normalise (a flat of
// zeros, a chip that counts nothing above its dark), and name the frame.
func NewPreprocessor(scan *Scan, opts PreprocessOptions) (*Preprocessor, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := scan.Validate(); err != nil {
		return nil, err
	}
	mask, err := scan.ReadBadPixelMask()
	if err != nil {
		return nil, err
	}
	cams := scan.CameraPositions()
	p := &Preprocessor{scan: scan, opts: opts, rings: make([]ringState, len(scan.Bins))}
	p.mapVirtual(cams)
	p.cal = make([][]*camCal, len(scan.Bins))
	for b := range p.cal {
		p.cal[b] = make([]*camCal, len(cams))
	}
	type job struct{ bin, cam int }
	var jobs []job
	for b := range scan.Bins {
		for c := range cams {
			jobs = append(jobs, job{b, c})
		}
	}
	errs := make([]error, len(jobs))
	parallel.For(len(jobs), opts.Threads, func(i int) {
		j := jobs[i]
		p.cal[j.bin][j.cam], errs[i] = p.calibrate(j.bin, j.cam, mask)
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// mapVirtual places every camera's raw pixels on the virtual detector.
func (p *Preprocessor) mapVirtual(cams []Camera) {
	l := p.scan.Layout
	g := &p.scan.Geometry
	p.covered = make([]bool, g.Pixels())
	p.virt = make([][]int32, len(cams))
	for c, cam := range cams {
		m := make([]int32, l.RawCols()*l.RawRows())
		for y := range l.RawRows() {
			vy := l.virtualRow(y)
			for x := range l.RawCols() {
				vi := vy*g.Cols + l.virtualCol(x) + cam.ShiftPixels
				m[y*l.RawCols()+x] = int32(vi)
				p.covered[vi] = true
			}
		}
		p.virt[c] = m
	}
}

// Scan returns the scan being processed.
func (p *Preprocessor) Scan() *Scan { return p.scan }

// Geometry returns the geometry whose detector the line integrals fill.
func (p *Preprocessor) Geometry() *fdk.Geometry { return &p.scan.Geometry }

// BadPixels lists the defective pixels of a bin at a camera position, in
// raw frame coordinates, row by row.
func (p *Preprocessor) BadPixels(bin, cam int) []BadPixel {
	if bin < 0 || bin >= len(p.cal) || cam < 0 || cam >= len(p.virt) {
		return nil
	}
	cols := p.scan.Layout.RawCols()
	var out []BadPixel
	for i, d := range p.cal[bin][cam].defect {
		if d != 0 {
			out = append(out, BadPixel{X: i % cols, Y: i / cols, Defect: d})
		}
	}
	return out
}

// calibrate averages a bin's flats and darks at one camera position and
// classifies its pixels.
func (p *Preprocessor) calibrate(bin, cam int, mask []bool) (*camCal, error) {
	s := p.scan
	n := s.Layout.RawCols() * s.Layout.RawRows()
	cal := &camCal{defect: make([]Defect, n)}
	for i, m := range mask {
		if m {
			cal.defect[i] |= Masked
		}
	}
	var darkMean []float64
	if s.Darks > 0 {
		darks := make([][]float64, s.Darks)
		for k := range darks {
			d, err := s.ReadFrame(DarkFrame, 0, bin, cam, k)
			if err != nil {
				return nil, err
			}
			darks[k] = d
		}
		darkMean, _ = meanVar(darks, false)
		cal.dark = darkMean
	}
	flats := make([][]float64, s.Flats)
	for k := range flats {
		f, err := s.ReadFrame(FlatFrame, 0, bin, cam, k)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(f, func(v float64) bool { return v != 0 }) {
			return nil, fmt.Errorf("%w: %s (%s): every pixel is zero; was the beam on?", ErrCalibration,
				describeFrame(FlatFrame, 0, bin, cam, k), s.FramePath(FlatFrame, 0, bin, cam, k))
		}
		flats[k] = f
	}
	flatMean, flatVar := meanVar(flats, s.Flats >= 3)
	signal := make([]float64, n)
	for i := range signal {
		signal[i] = flatMean[i]
		if darkMean != nil {
			signal[i] -= darkMean[i]
		}
	}
	if err := p.classify(cal, bin, cam, signal, flatMean, flatVar, darkMean); err != nil {
		return nil, err
	}
	ratio := 1.0
	if s.Counts.ExposureMS > 0 {
		ratio = s.Counts.ExposureMS / s.Counts.FlatExposureMS
	}
	cal.logFlat = make([]float64, n)
	for i, v := range signal {
		if v > 0 {
			cal.logFlat[i] = math.Log(v * ratio)
		} else {
			cal.defect[i] |= Dead
		}
	}
	return cal, nil
}

// meanVar returns the per-pixel mean of frames and, if withVar, the
// unbiased variance (two passes, so that equal values give exactly zero).
func meanVar(frames [][]float64, withVar bool) (mean, variance []float64) {
	n := len(frames[0])
	mean = make([]float64, n)
	for _, f := range frames {
		for i, v := range f {
			mean[i] += v
		}
	}
	k := float64(len(frames))
	for i := range mean {
		mean[i] /= k
	}
	if !withVar {
		return mean, nil
	}
	variance = make([]float64, n)
	for _, f := range frames {
		for i, v := range f {
			d := v - mean[i]
			variance[i] += d * d
		}
	}
	for i := range variance {
		variance[i] /= k - 1
	}
	return mean, variance
}

// classify marks dead, hot and noisy pixels chip by chip, so that a smooth
// fall-off of the beam across the detector, or a chip's own gain, is not
// taken for defects. Statistics are the median and the median absolute
// deviation (MAD) of the chip's unmasked pixels; σ = 1.4826·MAD, the
// standard deviation of a normal distribution with that MAD, floored at 1 %
// of the median so that perfectly uniform flats do not make every small
// deviation an outlier.
func (p *Preprocessor) classify(cal *camCal, bin, cam int, signal, flatMean, flatVar, darkMean []float64) error {
	l := p.scan.Layout
	k := float64(p.scan.Flats)
	cp := l.ChipPixels
	idx := make([]int, 0, cp*cp)
	vals := make([]float64, 0, cp*cp)
	var ratio []float64
	if flatVar != nil {
		ratio = make([]float64, len(signal))
	}
	for cy := range l.ChipsY {
		for cx := range l.ChipsX {
			idx = idx[:0]
			for y := cy * cp; y < (cy+1)*cp; y++ {
				for x := cx * cp; x < (cx+1)*cp; x++ {
					if i := y*l.RawCols() + x; cal.defect[i]&Masked == 0 {
						idx = append(idx, i)
					}
				}
			}
			if len(idx) == 0 {
				continue // a chip masked whole: nothing to learn
			}
			med, sd := robustStats(idx, signal, &vals)
			if !(med > 0) {
				return fmt.Errorf("%w: bin %d camera %d: chip (%d, %d) counts nothing above the dark in the flats (median %g); check %s",
					ErrCalibration, bin, cam, cx, cy, med, p.scan.FramePath(FlatFrame, 0, bin, cam, 0))
			}
			// Counting noise of the mean flat bounds σ from below too.
			sd = max(sd, 0.01*med, math.Sqrt(med/k))
			for _, i := range idx {
				switch d := signal[i] - med; {
				case d < -p.opts.OutlierSigma*sd || signal[i] <= 0:
					cal.defect[i] |= Dead
				case d > p.opts.OutlierSigma*sd:
					cal.defect[i] |= Hot
				}
			}
			if darkMean != nil {
				dmed, dsd := robustStats(idx, darkMean, &vals)
				dsd = max(dsd, math.Sqrt(max(dmed, 1)/float64(p.scan.Darks)))
				for _, i := range idx {
					if darkMean[i]-dmed > p.opts.OutlierSigma*dsd {
						cal.defect[i] |= Hot
					}
				}
			}
			if flatVar != nil {
				for _, i := range idx {
					ratio[i] = flatVar[i] / max(flatMean[i], 1)
				}
				rmed, rsd := robustStats(idx, ratio, &vals)
				rsd = max(rsd, 0.05*max(rmed, 1))
				for _, i := range idx {
					if ratio[i]-rmed > p.opts.NoisySigma*rsd {
						cal.defect[i] |= Noisy
					}
				}
			}
		}
	}
	return nil
}

// robustStats returns the median of v over idx and 1.4826 times the median
// absolute deviation; scratch is reused.
func robustStats(idx []int, v []float64, scratch *[]float64) (med, sd float64) {
	s := (*scratch)[:0]
	for _, i := range idx {
		s = append(s, v[i])
	}
	med = median(s)
	for j := range s {
		s[j] = math.Abs(s[j] - med)
	}
	sd = 1.4826 * median(s)
	*scratch = s
	return med, sd
}

// median sorts s and returns its median.
func median(s []float64) float64 {
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// LineIntegrals reads view's frames of bin from every camera position and
// returns the line integrals on the virtual detector, row-major, columns
// fastest, the size of the geometry's detector: what fdk.Reconstructor.Add
// takes for this bin. See Correct for the steps.
func (p *Preprocessor) LineIntegrals(view, bin int) ([]float32, Report, error) {
	img, rep, err := p.lineIntegrals(view, bin)
	if err != nil || !p.opts.RingCorrection {
		return img, rep, err
	}
	r := &p.rings[bin]
	r.once.Do(func() { r.offsets, r.err = p.estimateRings(bin) })
	if r.err != nil {
		return nil, rep, r.err
	}
	for i, o := range r.offsets {
		img[i] -= o
	}
	rep.RingCorrected = true
	return img, rep, nil
}

// View returns the line integrals of every bin of a view, ready for
// fdk.Reconstructor.Add, and the reports added up.
func (p *Preprocessor) View(view int) ([][]float32, Report, error) {
	out := make([][]float32, len(p.scan.Bins))
	var total Report
	for b := range out {
		img, rep, err := p.LineIntegrals(view, b)
		if err != nil {
			return nil, total, err
		}
		out[b] = img
		total.Add(rep)
	}
	return out, total, nil
}

func (p *Preprocessor) lineIntegrals(view, bin int) ([]float32, Report, error) {
	if view < 0 || view >= p.scan.Views {
		return nil, Report{}, fmt.Errorf("view %d out of range [0, %d)", view, p.scan.Views)
	}
	if bin < 0 || bin >= len(p.scan.Bins) {
		return nil, Report{}, fmt.Errorf("energy bin %d out of range [0, %d)", bin, len(p.scan.Bins))
	}
	frames := make([][]float64, len(p.virt))
	for c := range frames {
		f, err := p.scan.ReadFrame(ProjectionFrame, view, bin, c, 0)
		if err != nil {
			return nil, Report{}, err
		}
		frames[c] = f
	}
	img, rep, err := p.Correct(bin, frames)
	if err != nil {
		return nil, rep, fmt.Errorf("view %d bin %d: %w", view, bin, err)
	}
	return img, rep, nil
}

// Correct turns one view's raw counts of bin, one frame per camera position,
// into line integrals on the virtual detector (without ring correction):
//
//  1. dark subtraction: n = counts - mean dark;
//  2. n below HalfCount is set to HalfCount (Report.Clamped);
//  3. flat normalisation and logarithm: p = ln(flat - dark) - ln(n), the
//     flat scaled by the exposure ratio when the manifest gives one;
//  4. bad pixels (masked, dead, hot, noisy) and pixels at the counter's full
//     scale are left out;
//  5. each camera position's pixels are placed on the virtual detector, the
//     chip gaps left empty; where positions overlap, their line integrals
//     are averaged;
//  6. empty pixels are filled by interpolation (see fillInvalid).
//
// It is for frames that arrive in memory (a stream); LineIntegrals reads
// them from the scan folder.
func (p *Preprocessor) Correct(bin int, frames [][]float64) ([]float32, Report, error) {
	var rep Report
	if bin < 0 || bin >= len(p.cal) {
		return nil, rep, fmt.Errorf("energy bin %d out of range [0, %d)", bin, len(p.cal))
	}
	if len(frames) != len(p.virt) {
		return nil, rep, fmt.Errorf("%d frames for %d camera positions", len(frames), len(p.virt))
	}
	g := &p.scan.Geometry
	sum := make([]float64, g.Pixels())
	cnt := make([]uint8, g.Pixels())
	full := Saturation(p.scan.Counts.Dtype)
	for c, f := range frames {
		if len(f) != len(p.virt[c]) {
			return nil, rep, fmt.Errorf("camera %d: %d pixels, want %d", c, len(f), len(p.virt[c]))
		}
		cal := p.cal[bin][c]
		for i, v := range f {
			if cal.defect[i] != 0 {
				continue
			}
			if v >= full {
				rep.Saturated++
				continue
			}
			if cal.dark != nil {
				v -= cal.dark[i]
			}
			if v < HalfCount {
				v = HalfCount
				rep.Clamped++
			}
			vi := p.virt[c][i]
			sum[vi] += cal.logFlat[i] - math.Log(v)
			cnt[vi]++
		}
	}
	img := make([]float32, g.Pixels())
	valid := make([]bool, g.Pixels())
	for i, n := range cnt {
		switch {
		case n > 0:
			img[i] = float32(sum[i] / float64(n))
			valid[i] = true
		case p.covered[i]:
			rep.Bad++
		default:
			rep.Gap++
		}
	}
	if err := fillInvalid(img, valid, g.Cols, g.Rows); err != nil {
		return nil, rep, err
	}
	return img, rep, nil
}
