package sinogram

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/fdk"
)

// Plastimatch's projection folders hold, per view, <prefix><NNNN>.pfm (the
// image) and <prefix><NNNN>.txt (its geometry), as `plastimatch drr -t pfm`
// writes them and `plastimatch fdk` reads them. The conventions, measured
// against plastimatch 1.9.4 (Debian):
//
//   - .pfm: header "Pf\n<cols> <rows>\n-1\n", then float32 little endian,
//     columns fastest. The first row is the detector's top (+z) row: unlike
//     the PFM standard the rows are not stored bottom-up, and the .txt
//     matrix indexes them as stored.
//   - .txt: line 1 the image centre ic (column, row) in pixels; lines 2-4 a
//     3x4 matrix P with col = ic_col + (P0·X)/(P2·X), row = ic_row +
//     (P1·X)/(P2·X), P2·X = distance from the source along the beam / SID;
//     line 5 SAD (source to axis), line 6 SID (source to image); line 7 the
//     beam direction. More lines may follow and are ignored.
//   - values: drr writes 0.1 × Σ voxel value × path length in mm, that is the
//     line integral with lengths in centimetres. PlastimatchUnit converts.
//
// plastimatch's SAD is ctrecon's SID and its SID ctrecon's SDD.

// PlastimatchUnit is the factor from a plastimatch .pfm value to a line
// integral with lengths in millimetres: plastimatch measures them in
// centimetres.
const PlastimatchUnit = 10

// ErrFormat is wrapped by every error about a malformed projection file.
var ErrFormat = errors.New("malformed projection file")

// Set is a single-bin projection set: line integrals in (1/mm) × mm, one
// row-major image per view of Geometry.
type Set struct {
	Geometry    fdk.Geometry
	Projections [][]float32
}

// Folder is an opened plastimatch projection folder: its geometry is read,
// its images are read one at a time by Projection, so that reading can
// overlap reconstruction.
type Folder struct {
	Geometry fdk.Geometry
	images   []string
}

// OpenPlastimatch reads the geometry of every .pfm in dir, in name order,
// from the .txt of the same base name and the .pfm's header.
func OpenPlastimatch(dir string) (*Folder, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.pfm"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("projection folder: %w", err)
		}
		return nil, fmt.Errorf("projection folder %s: no .pfm files", dir)
	}
	sort.Strings(names)
	f := &Folder{images: names}
	for i, name := range names {
		cols, rows, err := readPFMHeader(name)
		if err != nil {
			return nil, err
		}
		v, err := readViewTxt(strings.TrimSuffix(name, ".pfm") + ".txt")
		if err != nil {
			return nil, err
		}
		if i == 0 {
			f.Geometry = fdk.Geometry{SID: v.sad, SDD: v.sid,
				Detector: fdk.Detector{Cols: cols, Rows: rows, PitchU: v.pitchU, PitchV: v.pitchV}}
		} else if err := sameDetector(&f.Geometry, v, cols, rows, name, names[0]); err != nil {
			return nil, err
		}
		f.Geometry.Matrices = append(f.Geometry.Matrices, v.matrix)
	}
	if err := f.Geometry.Validate(); err != nil {
		return nil, fmt.Errorf("projection folder %s: %w", dir, err)
	}
	return f, nil
}

// Projection reads view i's line integrals, in (1/mm) × mm.
func (f *Folder) Projection(i int) ([]float32, error) {
	if i < 0 || i >= len(f.images) {
		return nil, fmt.Errorf("projection %d out of range [0, %d)", i, len(f.images))
	}
	img, cols, rows, err := readPFM(f.images[i])
	if err != nil {
		return nil, err
	}
	if cols != f.Geometry.Cols || rows != f.Geometry.Rows {
		return nil, fmt.Errorf("%w: %s: now %dx%d pixels, was %dx%d when opened", ErrFormat, f.images[i], cols, rows, f.Geometry.Cols, f.Geometry.Rows)
	}
	return img, nil
}

// ReadPlastimatch reads a whole projection folder (see OpenPlastimatch).
func ReadPlastimatch(dir string) (*Set, error) {
	f, err := OpenPlastimatch(dir)
	if err != nil {
		return nil, err
	}
	set := &Set{Geometry: f.Geometry}
	for i := range f.images {
		img, err := f.Projection(i)
		if err != nil {
			return nil, err
		}
		set.Projections = append(set.Projections, img)
	}
	return set, nil
}

// sameDetector checks that view v, read from name, matches the first view.
func sameDetector(g *fdk.Geometry, v *viewTxt, cols, rows int, name, first string) error {
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b)) }
	switch {
	case cols != g.Cols || rows != g.Rows:
		return fmt.Errorf("%w: %s: %dx%d pixels, but %s has %dx%d", ErrFormat, name, cols, rows, first, g.Cols, g.Rows)
	case !near(v.sad, g.SID) || !near(v.sid, g.SDD):
		return fmt.Errorf("%w: %s: SAD/SID %g/%g differ from %s's %g/%g", ErrFormat, name, v.sad, v.sid, first, g.SID, g.SDD)
	case !near(v.pitchU, g.PitchU) || !near(v.pitchV, g.PitchV):
		return fmt.Errorf("%w: %s: pixel pitch %gx%g differs from %s's %gx%g", ErrFormat, name, v.pitchU, v.pitchV, first, g.PitchU, g.PitchV)
	}
	return nil
}

// readPFMHeader returns the image size in a .pfm's header.
func readPFMHeader(name string) (cols, rows int, err error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, _ := io.ReadFull(f, buf)
	cols, rows, _, err = parsePFMHeader(name, buf[:n])
	return cols, rows, err
}

// parsePFMHeader parses the three header lines "Pf", "<cols> <rows>",
// "<scale>" and returns the bytes after them.
func parsePFMHeader(name string, data []byte) (cols, rows int, rest []byte, err error) {
	bad := fmt.Errorf("%w: %s: header is not \"Pf\\n<cols> <rows>\\n<scale>\\n\"", ErrFormat, name)
	var header []string
	rest = data
	for range 3 {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok || len(line) > 40 {
			return 0, 0, nil, bad
		}
		header, rest = append(header, string(line)), after
	}
	var scale float64
	_, err1 := fmt.Sscanf(header[1], "%d %d", &cols, &rows)
	_, err2 := fmt.Sscanf(header[2], "%g", &scale)
	switch {
	case header[0] != "Pf" || err1 != nil || err2 != nil:
		return 0, 0, nil, bad
	case cols < 1 || rows < 1 || cols > maxPFMPixels/rows:
		return 0, 0, nil, fmt.Errorf("%w: %s: impossible size %dx%d", ErrFormat, name, cols, rows)
	case scale >= 0:
		return 0, 0, nil, fmt.Errorf("%w: %s: scale %g means big-endian data, which plastimatch cannot read either", ErrFormat, name, scale)
	}
	return cols, rows, rest, nil
}

// maxPFMPixels bounds a .pfm's size (1 GiB of float32).
const maxPFMPixels = 1 << 28

// readPFM reads one plastimatch .pfm image and converts it to millimetres.
func readPFM(name string) (img []float32, cols, rows int, err error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, 0, 0, err
	}
	cols, rows, body, err := parsePFMHeader(name, data)
	if err != nil {
		return nil, 0, 0, err
	}
	if want := 4 * cols * rows; len(body) != want {
		return nil, 0, 0, fmt.Errorf("%w: %s: %d bytes of pixel data, want %d for %dx%d", ErrFormat, name, len(body), want, cols, rows)
	}
	img, err = decodePFM(name, body, cols, 0)
	return img, cols, rows, err
}

// decodePFM converts a .pfm's pixel data, rows of cols values from row
// first on, to line integrals in millimetres.
func decodePFM(name string, data []byte, cols, first int) ([]float32, error) {
	img := make([]float32, len(data)/4)
	for i := range img {
		v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])) * PlastimatchUnit
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: %s: value at column %d row %d is not a finite line integral in mm (%v)", ErrFormat, name, i%cols, first+i/cols, v)
		}
		img[i] = v
	}
	return img, nil
}

// viewTxt is one parsed .txt geometry file.
type viewTxt struct {
	matrix         fdk.Matrix // ctrecon's: absolute pixel indices
	sad, sid       float64
	pitchU, pitchV float64
}

var txtFields = []struct {
	name string
	n    int
}{{"image centre", 2}, {"matrix row 1", 4}, {"matrix row 2", 4}, {"matrix row 3", 4}, {"SAD", 1}, {"SID", 1}}

// readViewTxt parses a plastimatch .txt geometry file.
func readViewTxt(name string) (*viewTxt, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("geometry for %s: %w", strings.TrimSuffix(name, ".txt")+".pfm", err)
	}
	lines := strings.Split(string(data), "\n")
	var vals [][]float64
	for i, f := range txtFields {
		if i >= len(lines) {
			return nil, fmt.Errorf("%w: %s: line %d (%s) missing", ErrFormat, name, i+1, f.name)
		}
		nums, err := parseLine(lines[i], f.n)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: line %d (%s): %v", ErrFormat, name, i+1, f.name, err)
		}
		vals = append(vals, nums)
	}
	if err := checkTxtMatrix(vals[1], vals[2], vals[3], vals[5][0]); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	v := &viewTxt{sad: vals[4][0], sid: vals[5][0]}
	ic := vals[0]
	for k := range 4 {
		p2 := vals[3][k]
		v.matrix[0][k] = vals[1][k] + ic[0]*p2
		v.matrix[1][k] = vals[2][k] + ic[1]*p2
		v.matrix[2][k] = p2
	}
	v.pitchU = 1 / math.Sqrt(sq3(vals[1]))
	v.pitchV = 1 / math.Sqrt(sq3(vals[2]))
	return v, nil
}

func sq3(r []float64) float64 { return r[0]*r[0] + r[1]*r[1] + r[2]*r[2] }

func dot3(a, b []float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

// checkTxtMatrix checks what the pitch and the image centre are derived
// from: plastimatch's third row is the beam direction over SID, and its
// first two rows are the detector's axes over the pitch, perpendicular to
// the beam. Rows that break this (to more than plastimatch's nine printed
// digits) would be read as a different detector than they describe.
func checkTxtMatrix(p0, p1, p2 []float64, sid float64) error {
	const tol = 1e-6
	n0, n1, n2 := math.Sqrt(sq3(p0)), math.Sqrt(sq3(p1)), math.Sqrt(sq3(p2))
	if !(math.Abs(n2*sid-1) <= tol) {
		return fmt.Errorf("line 4 (matrix row 3) has length %g, but line 6 (SID %g) makes it %g: the matrix and SID disagree", n2, sid, 1/sid)
	}
	for i, r := range []struct {
		row []float64
		n   float64
	}{{p0, n0}, {p1, n1}} {
		if !(r.n > 0) || math.IsInf(r.n, 0) || !(math.Abs(dot3(r.row, p2)) <= tol*r.n*n2) {
			return fmt.Errorf("line %d (matrix row %d) is not a detector axis perpendicular to the beam (row 3)", i+2, i+1)
		}
	}
	return nil
}

func parseLine(line string, n int) ([]float64, error) {
	f := strings.Fields(line)
	if len(f) != n {
		return nil, fmt.Errorf("%d numbers, want %d", len(f), n)
	}
	out := make([]float64, n)
	for i, s := range f {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%q is not a finite number", s)
		}
		out[i] = x
	}
	return out, nil
}

// WritePlastimatch writes set to dir as <prefix><NNNN>.pfm and .txt, which
// `plastimatch fdk -I dir` and ReadPlastimatch read.
func WritePlastimatch(dir, prefix string, set *Set) error {
	views, err := set.Geometry.Views()
	if err != nil {
		return err
	}
	if len(set.Projections) != len(views) {
		return fmt.Errorf("write %s: %d projections for %d views", dir, len(set.Projections), len(views))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, v := range views {
		base := filepath.Join(dir, fmt.Sprintf("%s%04d", prefix, i))
		if err := writePFM(base+".pfm", set.Projections[i], set.Geometry.Detector); err != nil {
			return err
		}
		if err := os.WriteFile(base+".txt", viewText(&set.Geometry, &v), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writePFM(name string, img []float32, det fdk.Detector) error {
	if len(img) != det.Pixels() {
		return fmt.Errorf("write %s: %d pixels, want %dx%d", name, len(img), det.Cols, det.Rows)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Pf\n%d %d\n-1\n", det.Cols, det.Rows)
	buf := make([]byte, 4*len(img))
	for i, v := range img {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v/PlastimatchUnit))
	}
	b.Write(buf)
	return os.WriteFile(name, b.Bytes(), 0o644)
}

// viewText formats view v in plastimatch's .txt layout, with the principal
// point as image centre and the third row scaled to 1 on the detector.
func viewText(g *fdk.Geometry, v *fdk.View) []byte {
	s := g.SID / g.SDD // ctrecon's w is 1 at the isocentre, plastimatch's on the detector
	var p fdk.Matrix
	for k := range 4 {
		p[2][k] = v.P[2][k] * s
		p[0][k] = v.P[0][k]*s - v.PrincipalU*p[2][k]
		p[1][k] = v.P[1][k]*s - v.PrincipalV*p[2][k]
	}
	n := math.Sqrt(v.Source[0]*v.Source[0] + v.Source[1]*v.Source[1] + v.Source[2]*v.Source[2])
	var b bytes.Buffer
	fmt.Fprintf(&b, "%.10g %.10g\n", v.PrincipalU, v.PrincipalV)
	for r := range 3 {
		fmt.Fprintf(&b, "%.12g %.12g %.12g %.12g\n", p[r][0], p[r][1], p[r][2], p[r][3])
	}
	fmt.Fprintf(&b, "%.12g\n%.12g\n%.12g %.12g %.12g\n", g.SID, g.SDD, -v.Source[0]/n, -v.Source[1]/n, -v.Source[2]/n)
	return b.Bytes()
}
