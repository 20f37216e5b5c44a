package dicomio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/fdk"
)

// ErrInput is wrapped by every error about a Study, Bin, Options or volume
// that cannot be written; the message names the field or voxel.
var ErrInput = errors.New("cannot write as DICOM")

// Study identifies the patient and the study. Every bin of one scan is
// written with the same Study, so that they share the study and the frame of
// reference.
type Study struct {
	PatientName        string // PN: Family^Given^Middle^Prefix^Suffix
	PatientID          string // LO
	PatientBirthDate   string // YYYYMMDD or YYYY-MM-DD; empty if unknown
	PatientSex         string // M, F, O or empty
	StudyID            string // SH
	AccessionNumber    string // SH
	StudyDescription   string // LO
	ReferringPhysician string // PN

	// StudyInstanceUID and FrameOfReferenceUID are required: make them once
	// per study with NewUID, so that every bin's series shares them.
	StudyInstanceUID    string
	FrameOfReferenceUID string
	// StudyTime is when the scan started; the zero time writes an empty
	// StudyTime. DICOM dates and times are local: they are written in
	// StudyTime's location, which TimezoneOffsetFromUTC records.
	StudyTime time.Time
	// StudyDate (YYYYMMDD or YYYY-MM-DD) is the study's day when StudyTime
	// is zero, for a scan that recorded its day but not its time; empty
	// writes an empty StudyDate.
	StudyDate string

	Manufacturer    string // LO, of the scanner
	Model           string // LO, ManufacturerModelName
	StationName     string // SH
	SoftwareVersion string // LO, of the reconstruction
}

// Bin is one energy bin of a spectral reconstruction.
type Bin struct {
	// Index is the bin's number as the scan names it; it labels the series.
	Index int
	// LowKeV and HighKeV are the bin's energy thresholds. HighKeV 0 or +Inf
	// means the bin counts every photon above LowKeV, as the top bin of a
	// photon-counting detector does.
	LowKeV, HighKeV float64
	// MuWater is water's linear attenuation in this bin, in 1/mm:
	// HU = 1000 (μ − MuWater) / MuWater.
	MuWater float64
	// SeriesInstanceUID is generated when empty. The instances' SOP
	// Instance UIDs are derived from it and the slice number (DeriveUID),
	// so a series written again under its UID has the same instances.
	SeriesInstanceUID string
	// SeriesNumber 0 means Index + 1.
	SeriesNumber int
}

// Window is a VOI LUT window preset in HU.
type Window struct {
	Center, Width float64
	Explanation   string // LO, shown by viewers in their preset menu
}

// DefaultWindows returns the presets written when Options.Windows is nil: soft
// tissue first, as viewers open with the first, then bone and lung.
func DefaultWindows() []Window {
	return []Window{{40, 400, "SOFT TISSUE"}, {400, 1800, "BONE"}, {-600, 1500, "LUNG"}}
}

// Options describe the acquisition and reconstruction; every field may be
// left zero.
type Options struct {
	// KVP is the tube's peak voltage in kV; 0 writes an empty KVP.
	KVP float64
	// SourceToIsocentre and SourceToDetector in mm; 0 leaves them out.
	SourceToIsocentre, SourceToDetector float64
	// Filter names the ramp filter window (ConvolutionKernel, SH).
	Filter string
	// PatientPosition is how the patient lay: HFS, HFP, HFDR, HFDL, FFS,
	// FFP, FFDR or FFDL (PS3.3 C.7.3.1.1.2), or empty for a specimen or a
	// phantom. It turns the world frame into the patient frame of
	// ImageOrientationPatient and ImagePositionPatient (see orientation.go).
	PatientPosition string
	// FOV, if set, is the field of view the volume was reconstructed in
	// (fdk.Reconstructor.FOV, on the volume's grid): voxels outside it,
	// which no view saw, are written as PixelPaddingValue, so that viewers
	// can hide them instead of showing them as air.
	FOV *fdk.FOV
	// Padded declares PixelPaddingValue without a FOV: a SeriesWriter's
	// slabs bring their own fields of view.
	Padded bool
	// Windows are the VOI LUT presets; nil writes DefaultWindows.
	Windows []Window
	// Created is when the images were made (InstanceCreation, Content and
	// Series date and time); zero means now.
	Created time.Time
	// Progress, if not nil, is called after each file with the number
	// written and the total.
	Progress func(done, total int)
}

// Series is what WriteSeries wrote.
type Series struct {
	Dir                 string // the series folder
	StudyInstanceUID    string
	SeriesInstanceUID   string
	FrameOfReferenceUID string
	SeriesNumber        int
	Description         string
	// Instances are the files in slice order: Instances[k] holds z slice k
	// and has InstanceNumber k+1.
	Instances []Instance
	// Clamped counts voxels whose HU fell outside what int16 holds after
	// the rescale (-33791 to 31743 HU) and were clamped to that range.
	Clamped int
}

// Instance is one file of a series.
type Instance struct {
	Path           string
	SOPInstanceUID string
}

// Stored pixels are HU − rescaleIntercept: −1024 keeps air (−1000 HU) just
// above zero, as CT scanners store it, and leaves int16 room for HU from
// −33791 to 31743. The lowest stored value, paddingValue, is kept for
// voxels outside the field of view (PixelPaddingValue).
const (
	rescaleSlope     = 1
	rescaleIntercept = -1024
	paddingValue     = math.MinInt16
)

// WriteSeries writes vol, attenuation in 1/mm on its grid, as one CT series
// in a new folder under dir (made if missing), named for the bin, e.g.
// bin2_35-50keV: IM_0001.dcm for z slice 0 and so on up the z axis. The
// files appear under their final name only once all are written; an existing
// folder of that name is an error that wraps fs.ErrExist, so give each study
// its own dir. The bins of a study may be written concurrently.
//
// Rows are y and columns x: PixelSpacing is the y\x spacing,
// ImageOrientationPatient the world x and y axes and ImagePositionPatient
// the centre of the slice's first voxel, both in the patient frame of
// opts.PatientPosition (1\0\0\0\1\0 and the world position for a
// specimen). SliceLocation is the slice's world z, its position along the
// slice normal.
func WriteSeries(dir string, st Study, b Bin, vol *fdk.Volume, opts Options) (Series, error) {
	if err := checkBin(b); err != nil {
		return Series{}, err
	}
	return writeContent(dir, st, binContent(b), vol, opts)
}

// content is what a series holds and how it is stored: its folder,
// description, comment, UID and number, ImageType, and the map from a
// voxel's value v to what the rescale gives back, (v − offset)·scale,
// stored as round(that / slope) − intercept / slope.
type content struct {
	folder, description, comment string
	uid                          string
	number                       int
	imageType                    []string
	offset, scale                float64
	slope, intercept             float64
	rescaleType                  string
}

// binContent is an energy bin's series: HU, stored with rescaleSlope and
// rescaleIntercept.
func binContent(b Bin) content {
	c := content{folder: seriesFolder(b), description: description(b), uid: b.SeriesInstanceUID, number: b.SeriesNumber,
		comment: fmt.Sprintf("Energy bin %d, %s. HU = 1000 (mu - mu_water) / mu_water, mu_water = %s /mm.",
			b.Index, energyRange(b), formatDS(b.MuWater)),
		imageType: []string{"ORIGINAL", "PRIMARY", "AXIAL"},
		offset:    b.MuWater, scale: 1000 / b.MuWater, slope: rescaleSlope, intercept: rescaleIntercept, rescaleType: "HU"}
	if c.number == 0 {
		c.number = b.Index + 1
	}
	return c
}

// writeContent writes vol as the series c describes (see WriteSeries).
func writeContent(dir string, st Study, c content, vol *fdk.Volume, opts Options) (Series, error) {
	if err := checkVolume(vol); err != nil {
		return Series{}, err
	}
	w, err := newSeriesWriter(dir, st, c, vol.Grid, opts)
	if err != nil {
		return Series{}, err
	}
	defer w.Abort()
	if err := w.WriteSlab(vol, opts.FOV); err != nil {
		return Series{}, err
	}
	return w.Close()
}

// checkVolume rejects a volume that has no voxels, disagrees with its grid,
// or holds a value that is not a number, naming the first such voxel.
func checkVolume(vol *fdk.Volume) error {
	if vol == nil {
		return fmt.Errorf("%w: volume is nil", ErrInput)
	}
	g := vol.Grid
	if err := checkGrid(g); err != nil {
		return err
	}
	if len(vol.Data) != g.Voxels() {
		return fmt.Errorf("%w: volume has %d values for a %dx%dx%d grid", ErrInput, len(vol.Data), g.Dim[0], g.Dim[1], g.Dim[2])
	}
	for n, v := range vol.Data {
		if !finite(float64(v)) {
			i, j, k := n%g.Dim[0], n/g.Dim[0]%g.Dim[1], n/(g.Dim[0]*g.Dim[1])
			p := g.Position(i, j, k)
			return fmt.Errorf("%w: voxel (%d, %d, %d) at (%.2f, %.2f, %.2f) mm is %v", ErrInput, i, j, k, p[0], p[1], p[2], v)
		}
	}
	return nil
}

// encodeSlice writes values as little-endian int16 stored values into dst
// and returns how many were clamped; paddingValue is never written.
func (c content) encodeSlice(dst []byte, values []float32) (clamped int) {
	for i, v := range values {
		s := math.Round((float64(v)-c.offset)*c.scale/c.slope) - c.intercept/c.slope
		if s <= paddingValue || s > math.MaxInt16 {
			clamped++
			s = max(paddingValue+1, min(math.MaxInt16, s))
		}
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(int16(s)))
	}
	return clamped
}

// padSlice writes paddingValue into the pixels of slice k, encoded in dst,
// that lie outside fov; a nil fov pads nothing.
func padSlice(dst []byte, fov *fdk.FOV, k int) {
	if fov == nil {
		return
	}
	g := fov.Grid()
	nx, ny := g.Dim[0], g.Dim[1]
	var pad int16 = paddingValue
	for j := range ny {
		x0, x1 := fov.Span(k*ny + j)
		for i := range nx {
			if i < x0 || i > x1 {
				binary.LittleEndian.PutUint16(dst[2*(j*nx+i):], uint16(pad))
			}
		}
	}
}

// writeFile writes one instance. The library writes elements in the order
// given, so they are sorted by tag here, as PS3.5 7.1 requires.
func writeFile(path string, ds []*dicom.Element) error {
	slices.SortFunc(ds, func(a, b *dicom.Element) int {
		return int(a.Tag.Group)<<16 + int(a.Tag.Element) - (int(b.Tag.Group)<<16 + int(b.Tag.Element))
	})
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dicomio: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = dicom.Write(w, dicom.Dataset{Elements: ds})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dicomio: %s: %w", path, err)
	}
	return nil
}

// elem makes an element with an explicit VR. The library's NewElement takes
// the first VR the dictionary lists, which is wrong for tags such as
// SmallestImagePixelValue (US or SS). Every value passed here is built by
// this package, so a failure is a bug.
func elem(t tag.Tag, vr string, data any) *dicom.Element {
	v, err := dicom.NewValue(data)
	if err != nil {
		panic(err)
	}
	return &dicom.Element{Tag: t, ValueRepresentation: tag.GetVRKind(t, vr), RawValueRepresentation: vr, Value: v}
}

// pixelData wraps one slice's stored values, already little-endian int16,
// as PixelData (OW). They go in as the library's unprocessed value bytes,
// which it writes unchanged: its native-frame path would encode them again
// with one binary.Write call per pixel.
func pixelData(pix []byte) *dicom.Element {
	return elem(tag.PixelData, "OW", dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: pix})
}

// seriesFolder names a bin's folder, e.g. bin2_35-50keV or bin4_80keV-up.
func seriesFolder(b Bin) string {
	if openBin(b) {
		return fmt.Sprintf("bin%d_%skeV-up", b.Index, keV(b.LowKeV))
	}
	return fmt.Sprintf("bin%d_%s-%skeV", b.Index, keV(b.LowKeV), keV(b.HighKeV))
}

// description is the SeriesDescription, e.g. "Bin 2: 35-50 keV".
func description(b Bin) string { return fmt.Sprintf("Bin %d: %s", b.Index, energyRange(b)) }

// energyRange says which photons a bin counts, e.g. "35-50 keV".
func energyRange(b Bin) string {
	if openBin(b) {
		return "above " + keV(b.LowKeV) + " keV"
	}
	return keV(b.LowKeV) + "-" + keV(b.HighKeV) + " keV"
}

func openBin(b Bin) bool { return b.HighKeV == 0 || math.IsInf(b.HighKeV, 1) }

func keV(e float64) string { return strconv.FormatFloat(e, 'g', 4, 64) }
