// Package nifti reads and writes label images (masks) in the NIfTI-1
// single-file format, .nii and .nii.gz, as segmentation tools (ITK-SNAP,
// 3D Slicer, TotalSegmentator, nibabel) write them.
//
// No NIfTI module is served by the Go module proxy that this project can
// use (github.com/henghuang/nifti and github.com/okieraised/gonii are
// refused), and the readers seen elsewhere need cgo, which ctrecon does
// not use; a label image needs only the 348-byte header and the voxels, so
// this package reads them itself, following nifti1.h
// (https://nifti.nimh.nih.gov/pub/dist/src/niftilib/nifti1.h).
//
// Coordinates: NIfTI's world frame is RAS+ (x to the patient's left is
// negative), ctrecon's is that of its MetaImage volumes, ITK's LPS, as ITK
// reads NIfTI: x and y change sign. A label image must be axis-aligned
// with ctrecon's grid (identity direction after that change), as its
// MetaImage volumes are; the sform is used when sform_code is set, else
// the qform, and an image with neither has no place in space and is
// refused. Only integer data types are labels; scaling (scl_slope other
// than 0 or 1, scl_inter other than 0) is refused.
package nifti

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/rawfile"
)

// header is the NIfTI-1 header, field by field as nifti1.h lays it out
// (348 bytes, no padding).
type header struct {
	SizeofHdr     int32
	DataTypeName  [10]byte
	DBName        [18]byte
	Extents       int32
	SessionError  int16
	Regular       byte
	DimInfo       byte
	Dim           [8]int16
	IntentP1      float32
	IntentP2      float32
	IntentP3      float32
	IntentCode    int16
	Datatype      int16
	Bitpix        int16
	SliceStart    int16
	Pixdim        [8]float32
	VoxOffset     float32
	SclSlope      float32
	SclInter      float32
	SliceEnd      int16
	SliceCode     byte
	XYZTUnits     byte
	CalMax        float32
	CalMin        float32
	SliceDuration float32
	TOffset       float32
	GLMax         int32
	GLMin         int32
	Descrip       [80]byte
	AuxFile       [24]byte
	QformCode     int16
	SformCode     int16
	QuaternB      float32
	QuaternC      float32
	QuaternD      float32
	QoffsetX      float32
	QoffsetY      float32
	QoffsetZ      float32
	SrowX         [4]float32
	SrowY         [4]float32
	SrowZ         [4]float32
	IntentName    [16]byte
	Magic         [4]byte
}

const headerSize = 348

// Datatype is a NIfTI-1 datatype code (nifti1.h's DT_*) of an integer
// type, the only ones a label image may have.
type Datatype int16

// The integer datatypes.
const (
	Uint8  Datatype = 2
	Int16  Datatype = 4
	Int32  Datatype = 8
	Int8   Datatype = 256
	Uint16 Datatype = 512
	Uint32 Datatype = 768
	Int64  Datatype = 1024
	Uint64 Datatype = 1280
)

// integer is how one integer datatype is stored.
type integer struct {
	name     string
	size     int
	min, max int64
}

var integers = map[Datatype]integer{
	Uint8: {"uint8", 1, 0, math.MaxUint8}, Int8: {"int8", 1, math.MinInt8, math.MaxInt8},
	Int16: {"int16", 2, math.MinInt16, math.MaxInt16}, Uint16: {"uint16", 2, 0, math.MaxUint16},
	Int32: {"int32", 4, math.MinInt32, math.MaxInt32}, Uint32: {"uint32", 4, 0, math.MaxUint32},
	Int64: {"int64", 8, math.MinInt64, math.MaxInt64}, Uint64: {"uint64", 8, 0, math.MaxInt64},
}

// Datatypes lists the datatypes ReadLabels reads and WriteLabels writes.
func Datatypes() []Datatype {
	return slices.Sorted(maps.Keys(integers))
}

func (d Datatype) String() string {
	if t, ok := integers[d]; ok {
		return t.name
	}
	return fmt.Sprintf("datatype %d", int16(d))
}

// get reads one value of d in order o; a uint64 above MaxInt64 reads as
// MaxInt64, which no int32 label is either.
func (d Datatype) get(o binary.ByteOrder, b []byte) int64 {
	switch d {
	case Uint8:
		return int64(b[0])
	case Int8:
		return int64(int8(b[0]))
	case Int16:
		return int64(int16(o.Uint16(b)))
	case Uint16:
		return int64(o.Uint16(b))
	case Int32:
		return int64(int32(o.Uint32(b)))
	case Uint32:
		return int64(o.Uint32(b))
	case Int64:
		return int64(o.Uint64(b))
	default:
		return int64(min(o.Uint64(b), math.MaxInt64))
	}
}

// put writes x as one little-endian value of d.
func (d Datatype) put(b []byte, x int64) {
	switch integers[d].size {
	case 1:
		b[0] = byte(x)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(x))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(x))
	default:
		binary.LittleEndian.PutUint64(b, uint64(x))
	}
}

// maxVoxOffset bounds where the voxels may start: the header, then
// extensions, which a label image has little use for.
const maxVoxOffset = 16 << 20

// ReadLabels loads a NIfTI-1 label image, .nii or .nii.gz (gzip is
// recognised by its magic bytes, whatever the name): its grid in ctrecon's
// world frame and one int32 label per voxel, x fastest, 0 for no object.
// Errors name the file and the header field, or the voxel data.
func ReadLabels(path string) (g fdk.Grid, labels []int32, err error) {
	err = rawfile.Open(path, func(r *bufio.Reader, size int64) (err error) {
		g, labels, err = decode(r, size)
		return err
	})
	return g, labels, err
}

// DecodeLabels reads a NIfTI-1 label image from a stream, gzipped or not.
func DecodeLabels(r io.Reader) (fdk.Grid, []int32, error) {
	return decode(bufio.NewReader(r), -1)
}

// decode reads an image from r, of size bytes when that is known (an
// uncompressed file's size is then checked before anything is allocated),
// or negative.
func decode(r *bufio.Reader, size int64) (fdk.Grid, []int32, error) {
	if magic, _ := r.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		z, err := gzip.NewReader(r)
		if err != nil {
			return fdk.Grid{}, nil, fmt.Errorf("gzip: %w", err)
		}
		// One layer of gzip only: a gzip quine would otherwise recurse
		// for ever.
		g, labels, err := decodeImage(bufio.NewReader(z), -1)
		if err == nil {
			if err = z.Close(); err != nil {
				err = fmt.Errorf("gzip: %w", err)
			}
		}
		return g, labels, err
	}
	return decodeImage(r, size)
}

// decodeImage reads an uncompressed image, as decode does.
func decodeImage(r *bufio.Reader, size int64) (fdk.Grid, []int32, error) {
	h, order, err := readHeader(r)
	if err != nil {
		return fdk.Grid{}, nil, err
	}
	g, err := h.grid()
	if err != nil {
		return g, nil, err
	}
	dt := Datatype(h.Datatype)
	n, elem := g.Voxels(), integers[dt].size
	need := int64(n) * int64(elem)
	start := int64(h.VoxOffset)
	if size >= 0 && size-start != need {
		return g, nil, fmt.Errorf("voxel data: %d bytes after vox_offset %d, but dim %v of %s needs %d", size-start, start, g.Dim, dt, need)
	}
	if _, err := io.CopyN(io.Discard, r, start-headerSize); err != nil {
		return g, nil, fmt.Errorf("vox_offset: %d, but the file ends before: %w", start, err)
	}
	labels, err := readLabels(r, n, dt, order, size >= 0)
	if err != nil {
		return g, nil, fmt.Errorf("voxel data: dim %v of %s needs %d bytes: %w", g.Dim, dt, need, err)
	}
	if _, err := r.Peek(1); err != io.EOF {
		return g, nil, fmt.Errorf("voxel data: more than the %d bytes dim %v of %s needs", need, g.Dim, dt)
	}
	return g, labels, nil
}

// readHeader reads the header in whichever byte order makes sizeof_hdr
// 348, and checks the fields that say what the file is.
func readHeader(r io.Reader) (*header, binary.ByteOrder, error) {
	var raw [headerSize]byte
	if _, err := io.ReadFull(r, raw[:]); err != nil {
		return nil, nil, fmt.Errorf("header: %w (a NIfTI-1 header is %d bytes)", err, headerSize)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if order.Uint32(raw[:]) != headerSize {
		order = binary.BigEndian
	}
	h := new(header)
	if err := binary.Read(bytes.NewReader(raw[:]), order, h); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	switch {
	case h.SizeofHdr != headerSize:
		return nil, nil, fmt.Errorf("header: sizeof_hdr = %d, want %d (not a NIfTI-1 file; NIfTI-2 is not supported)", binary.LittleEndian.Uint32(raw[:]), headerSize)
	case string(h.Magic[:]) == "ni1\x00":
		return nil, nil, errors.New("header: magic = \"ni1\": a .hdr/.img pair is not supported, give a single .nii or .nii.gz file")
	case string(h.Magic[:]) != "n+1\x00":
		return nil, nil, fmt.Errorf("header: magic = %q, want \"n+1\"", h.Magic[:])
	}
	dt := Datatype(h.Datatype)
	t, ok := integers[dt]
	switch {
	case !ok:
		return nil, nil, fmt.Errorf("header: datatype = %d, a label image needs an integer type (%v)", h.Datatype, Datatypes())
	case int(h.Bitpix) != 8*t.size:
		return nil, nil, fmt.Errorf("header: bitpix = %d, but datatype %s has %d bits", h.Bitpix, dt, 8*t.size)
	case !(h.VoxOffset >= headerSize+4 && h.VoxOffset <= maxVoxOffset) || h.VoxOffset != float32(math.Trunc(float64(h.VoxOffset))):
		return nil, nil, fmt.Errorf("header: vox_offset = %g, want a whole number of bytes from %d to %d", h.VoxOffset, headerSize+4, maxVoxOffset)
	case !(h.SclSlope == 0 || h.SclSlope == 1) || h.SclInter != 0:
		return nil, nil, fmt.Errorf("header: scl_slope = %g, scl_inter = %g: labels must not be scaled", h.SclSlope, h.SclInter)
	}
	return h, order, nil
}

// maxDim bounds each dimension (an int16 in the header anyway).
const maxDim = math.MaxInt16

// grid returns the voxel lattice in ctrecon's world frame.
func (h *header) grid() (fdk.Grid, error) {
	var g fdk.Grid
	nd := int(h.Dim[0])
	if nd < 1 || nd > 7 {
		return g, fmt.Errorf("header: dim[0] = %d, want 1 to 7", nd)
	}
	for k := 1; k <= nd; k++ {
		if h.Dim[k] < 1 {
			return g, fmt.Errorf("header: dim[%d] = %d, must be at least 1", k, h.Dim[k])
		}
		if k > 3 && h.Dim[k] != 1 {
			return g, fmt.Errorf("header: dim[%d] = %d: a label image has 3 dimensions, no time or components", k, h.Dim[k])
		}
	}
	for k := range 3 {
		g.Dim[k] = 1
		if k < nd {
			g.Dim[k] = int(h.Dim[k+1])
		}
	}
	m, err := h.affine()
	if err != nil {
		return g, err
	}
	scale, err := h.unitMM()
	if err != nil {
		return g, err
	}
	// RAS to LPS: x and y change sign.
	m[0], m[1] = negate(m[0]), negate(m[1])
	form := "sform (srow_x, srow_y, srow_z)"
	if h.SformCode <= 0 {
		form = "qform (quatern_b/c/d, pixdim, qoffset)"
	}
	for i := range 3 {
		for j := range 3 {
			if i != j && !(math.Abs(m[i][j]) <= 1e-5*math.Abs(m[j][j])) {
				return g, fmt.Errorf("header: %s is not axis-aligned with the voxel grid (row %d: %g %g %g): only an identity direction in LPS is supported", form, i, m[i][0], m[i][1], m[i][2])
			}
		}
		if !(m[i][i] > 0) {
			return g, fmt.Errorf("header: %s flips or drops axis %d (%g after RAS to LPS): only an identity direction in LPS is supported", form, i, m[i][i])
		}
		g.Spacing[i], g.Origin[i] = m[i][i]*scale, m[i][3]*scale
	}
	if err := g.Validate(); err != nil {
		return g, fmt.Errorf("header: dim, pixdim or %s: %w", form, err)
	}
	return g, nil
}

func negate(row [4]float64) [4]float64 {
	for i := range row {
		row[i] = -row[i]
	}
	return row
}

// affine returns the voxel-to-RAS matrix: the sform when sform_code is
// set, else the qform (nifti1.h's method 2), as nibabel and ITK choose.
func (h *header) affine() ([3][4]float64, error) {
	var m [3][4]float64
	if h.SformCode > 0 {
		for i, row := range [3][4]float32{h.SrowX, h.SrowY, h.SrowZ} {
			for j, x := range row {
				m[i][j] = decimal(x)
			}
		}
		return m, nil
	}
	if h.QformCode <= 0 {
		return m, fmt.Errorf("header: qform_code = %d and sform_code = %d: the image has no position in space", h.QformCode, h.SformCode)
	}
	b, c, d := float64(h.QuaternB), float64(h.QuaternC), float64(h.QuaternD)
	a := 1 - b*b - c*c - d*d
	if a < 1e-7 { // a 180° rotation: renormalise (b, c, d) as nifti1_io does
		n := math.Sqrt(b*b + c*c + d*d)
		a, b, c, d = 0, b/n, c/n, d/n
	} else {
		a = math.Sqrt(a)
	}
	r := [3][3]float64{
		{a*a + b*b - c*c - d*d, 2 * (b*c - a*d), 2 * (b*d + a*c)},
		{2 * (b*c + a*d), a*a + c*c - b*b - d*d, 2 * (c*d - a*b)},
		{2 * (b*d - a*c), 2 * (c*d + a*b), a*a + d*d - c*c - b*b},
	}
	qfac := 1.0
	if h.Pixdim[0] < 0 {
		qfac = -1
	}
	scale := [3]float64{decimal(h.Pixdim[1]), decimal(h.Pixdim[2]), qfac * decimal(h.Pixdim[3])}
	for k, s := range scale {
		if !(math.Abs(s) > 0) || math.IsInf(s, 0) {
			return m, fmt.Errorf("header: pixdim[%d] = %g, must be positive", k+1, h.Pixdim[k+1])
		}
	}
	for i := range 3 {
		for j := range 3 {
			m[i][j] = r[i][j] * scale[j]
		}
	}
	m[0][3], m[1][3], m[2][3] = decimal(h.QoffsetX), decimal(h.QoffsetY), decimal(h.QoffsetZ)
	return m, nil
}

// decimal widens x to the float64 of the shortest decimal that reads back
// as x: the header holds float32, and a spacing of 0.6 mm written there
// then reads back as 0.6, not 0.6000000238418579.
func decimal(x float32) float64 {
	d, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	return d
}

// unitMM returns the size of xyzt_units' spatial unit in mm; unknown (0)
// is taken as mm, which is what every segmentation tool writes.
func (h *header) unitMM() (float64, error) {
	switch h.XYZTUnits & 7 {
	case 0, 2:
		return 1, nil
	case 1:
		return 1000, nil
	case 3:
		return 1e-3, nil
	default:
		return 0, fmt.Errorf("header: xyzt_units = %d: spatial unit %d is not metre (1), mm (2) or micron (3)", h.XYZTUnits, h.XYZTUnits&7)
	}
}

// readLabels reads n values of dt in order o, as int32.
func readLabels(r io.Reader, n int, dt Datatype, o binary.ByteOrder, sized bool) ([]int32, error) {
	return rawfile.Elements(r, n, integers[dt].size, sized, func(b []byte, i int) (int32, error) {
		x := dt.get(o, b)
		if x < math.MinInt32 || x > math.MaxInt32 {
			return 0, fmt.Errorf("voxel %d: label %d does not fit a 32-bit label", i, x)
		}
		return int32(x), nil
	})
}

// WriteLabels stores a label image on grid g at path as dt, gzipped when
// path ends in .gz. It fails, leaving no file, when a label does not fit dt.
func WriteLabels(path string, g fdk.Grid, labels []int32, dt Datatype) error {
	if err := check(g, labels, dt); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	var w io.Writer = bw
	var z *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		z = gzip.NewWriter(bw)
		w = z
	}
	err = EncodeLabels(w, g, labels, dt)
	if err == nil && z != nil {
		err = z.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// EncodeLabels writes an uncompressed NIfTI-1 label image: grid g in
// ctrecon's world frame as an sform and a qform (both scanner-anatomical,
// code 1, in RAS+ as NIfTI has it), mm, vox_offset 352, no extensions.
func EncodeLabels(w io.Writer, g fdk.Grid, labels []int32, dt Datatype) error {
	if err := check(g, labels, dt); err != nil {
		return err
	}
	t := integers[dt]
	h := header{SizeofHdr: headerSize, Regular: 'r', Datatype: int16(dt), Bitpix: int16(8 * t.size),
		VoxOffset: headerSize + 4, SclSlope: 1, XYZTUnits: 2, QformCode: 1, SformCode: 1, Magic: [4]byte{'n', '+', '1', 0}}
	h.Dim = [8]int16{3, int16(g.Dim[0]), int16(g.Dim[1]), int16(g.Dim[2]), 1, 1, 1, 1}
	h.Pixdim = [8]float32{1, float32(g.Spacing[0]), float32(g.Spacing[1]), float32(g.Spacing[2])}
	// LPS identity is a 180° rotation about z in RAS: quaternion (0, 0, 0, 1).
	h.QuaternD = 1
	h.QoffsetX, h.QoffsetY, h.QoffsetZ = float32(-g.Origin[0]), float32(-g.Origin[1]), float32(g.Origin[2])
	h.SrowX = [4]float32{float32(-g.Spacing[0]), 0, 0, h.QoffsetX}
	h.SrowY = [4]float32{0, float32(-g.Spacing[1]), 0, h.QoffsetY}
	h.SrowZ = [4]float32{0, 0, float32(g.Spacing[2]), h.QoffsetZ}
	copy(h.Descrip[:], "ctrecon label image")
	if err := binary.Write(w, binary.LittleEndian, &h); err != nil {
		return err
	}
	if _, err := w.Write(make([]byte, 4)); err != nil { // no extensions
		return err
	}
	return rawfile.WriteElements(w, labels, t.size, func(b []byte, x int32) { dt.put(b, int64(x)) })
}

// check reports what makes labels on g unwritable as dt.
func check(g fdk.Grid, labels []int32, dt Datatype) error {
	t, ok := integers[dt]
	if !ok {
		return fmt.Errorf("%s is not an integer datatype (%v)", dt, Datatypes())
	}
	if err := g.Validate(); err != nil {
		return err
	}
	for k, d := range g.Dim {
		if d > maxDim {
			return fmt.Errorf("dim %d = %d: NIfTI-1 holds at most %d", k, d, maxDim)
		}
	}
	if len(labels) != g.Voxels() {
		return fmt.Errorf("%d labels for %dx%dx%d voxels", len(labels), g.Dim[0], g.Dim[1], g.Dim[2])
	}
	for i, x := range labels {
		if int64(x) < t.min || int64(x) > t.max {
			return fmt.Errorf("voxel %d: label %d does not fit %s", i, x, dt)
		}
	}
	return nil
}
