package dicomio

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/peertest"
)

// testFOV is the field of view of a full circular scan on testGrid whose
// 2.8 mm radius cuts through the grid (centred 2.7 mm off the axis), so
// that some voxels are inside and some outside.
func testFOV(t *testing.T) *fdk.FOV {
	t.Helper()
	g := fdk.Geometry{SID: 100, SDD: 200, Detector: fdk.Detector{Cols: 28, Rows: 128, PitchU: 0.4, PitchV: 0.4}}
	for v := range 36 {
		g.Angles = append(g.Angles, float64(v)*2*math.Pi/36)
	}
	views, err := g.Views()
	if err != nil {
		t.Fatal(err)
	}
	return fdk.NewFOV(views, g.Detector, testGrid())
}

// Voxels outside the field of view are written as the PixelPaddingValue
// the header declares (SS, as the pixels are signed), every other voxel as
// its HU, never as the padding value, even when clamped; DCMTK reads the
// declaration and dciodvfy finds no error with a patient position set.
func TestPixelPadding(t *testing.T) {
	vol, _ := testVolume()
	fov := testFOV(t)
	nx, ny := vol.Grid.Dim[0], vol.Grid.Dim[1]
	row := 2*ny + 2 // slice 2, row 2: inside the field of view
	x0, _ := fov.Span(row)
	low := row*nx + x0
	vol.Data[low] = -2 // below the lowest HU: clamped one above the padding value
	o := testOptions
	o.FOV, o.PatientPosition = fov, "FFDR"
	s, err := WriteSeries(t.TempDir(), testStudy(), testBins[0], vol, o)
	if err != nil {
		t.Fatal(err)
	}
	inside, outside := 0, 0
	for k, inst := range s.Instances {
		f := parse(t, inst.Path)
		e, err := f.ds.FindElementByTag(tag.PixelPaddingValue)
		if err != nil || e.RawValueRepresentation != "SS" || dicom.MustGetInts(e.Value)[0] != -32768 {
			t.Fatalf("%s: PixelPaddingValue %v (%v), want SS -32768", inst.Path, e, err)
		}
		pe, _ := f.ds.FindElementByTag(tag.PixelData)
		raw := dicom.MustGetPixelDataInfo(pe.Value).Frames[0].NativeData.RawDataSlice().([]uint16)
		for j := range ny {
			x0, x1 := fov.Span(k*ny + j)
			for i := range nx {
				v := int16(raw[j*nx+i])
				switch in := i >= x0 && i <= x1; {
				case !in && v != -32768:
					t.Errorf("slice %d voxel (%d, %d) is outside the field of view but stored as %d", k, i, j, v)
				case in && v == -32768:
					t.Errorf("slice %d voxel (%d, %d) is inside the field of view but stored as the padding value", k, i, j)
				case in && (k*ny+j)*nx+i == low && v != -32767:
					t.Errorf("slice %d voxel (%d, %d), below the lowest HU, is stored as %d, want -32767", k, i, j, v)
				case in:
					inside++
				default:
					outside++
				}
			}
		}
	}
	if inside == 0 || outside == 0 {
		t.Fatalf("%d voxels inside and %d outside the field of view: the test needs both", inside, outside)
	}
	out, err := exec.Command(peertest.Tool(t, "dcmdump", "dcmtk"), s.Instances[0].Path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "(0028,0120) SS -32768") {
		t.Errorf("dcmdump (%v) does not show PixelPaddingValue SS -32768:\n%s", err, out)
	}
	dciodvfy(t, peertest.Tool(t, "dciodvfy", "dicom3tools"), s)
}

// For every patient position, dcm2niix (an independent reader) places a
// marker voxel where that position puts the patient: the world frame is
// the scanner's (x to the right of someone at the bed's end looking into
// the gantry, y down, z into the gantry), and the patient frame is LPS.
func TestPatientFrameWithDcm2niix(t *testing.T) {
	tool := peertest.Tool(t, "dcm2niix", "dcm2niix")
	vol := fdk.NewVolume(testGrid())
	for i := range vol.Data {
		vol.Data[i] = 0.02
	}
	const mi, mj, mk = 5, 1, 3
	vol.Data[mi+7*(mj+5*mk)] = 0.06
	w := vol.Grid.Position(mi, mj, mk)
	x, y, z := w[0], w[1], w[2]
	// Where the marker is in the patient's left, posterior, superior.
	want := map[string]fdk.Vec3{
		"":     {x, y, z},    // a specimen: the world frame as it is
		"HFS":  {x, y, z},    // head into the gantry, face up: left is +x, back is down
		"HFP":  {-x, -y, z},  // face down: left is -x, back is up
		"FFS":  {-x, y, -z},  // feet into the gantry, face up: head towards -z, left -x
		"FFP":  {x, -y, -z},  // feet first, face down
		"HFDR": {-y, x, z},   // head first on the right side: left is up (-y), back is +x
		"HFDL": {y, -x, z},   // on the left side: left is down, back is -x
		"FFDR": {-y, -x, -z}, // feet first on the right side: left up, back -x
		"FFDL": {y, x, -z},   // feet first on the left side: left down, back +x
	}
	for pos, lps := range want {
		name := pos
		if name == "" {
			name = "specimen"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions
			o.PatientPosition = pos
			s, err := WriteSeries(dir, testStudy(), testBins[0], vol, o)
			if err != nil {
				t.Fatal(err)
			}
			if got := parse(t, s.Instances[0].Path).str(tag.PatientPosition); got != pos {
				t.Errorf("PatientPosition %q, want %q", got, pos)
			}
			out := t.TempDir()
			if msg, err := exec.Command(tool, "-z", "n", "-b", "n", "-f", "vol", "-o", out, s.Dir).CombinedOutput(); err != nil {
				t.Fatalf("dcm2niix: %v\n%s", err, msg)
			}
			ras := niftiMax(t, filepath.Join(out, "vol.nii"))
			got := fdk.Vec3{-ras[0], -ras[1], ras[2]} // NIfTI is RAS, DICOM LPS
			for k := range 3 {
				if math.Abs(got[k]-lps[k]) > 1e-3 {
					t.Fatalf("dcm2niix puts the marker at LPS %.3f, want %.3f", got, lps)
				}
			}
		})
	}
}

// niftiMax reads a NIfTI-1 file of int16 voxels and returns the RAS
// position (sform, mm) of its largest voxel.
func niftiMax(t *testing.T, path string) fdk.Vec3 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if len(b) < 352 || le.Uint32(b) != 348 {
		t.Fatalf("%s: not a little-endian NIfTI-1 file", path)
	}
	var dim [3]int
	for k := range 3 {
		dim[k] = int(le.Uint16(b[42+2*k:]))
	}
	if dt := le.Uint16(b[70:]); dt != 4 || le.Uint16(b[254:]) == 0 {
		t.Fatalf("%s: datatype %d, sform code %d: want int16 and an sform", path, dt, le.Uint16(b[254:]))
	}
	data := b[int(math.Float32frombits(le.Uint32(b[108:]))):]
	best, at := int16(math.MinInt16), [3]int{}
	for k := range dim[2] {
		for j := range dim[1] {
			for i := range dim[0] {
				if v := int16(le.Uint16(data[2*(i+dim[0]*(j+dim[1]*k)):])); v > best {
					best, at = v, [3]int{i, j, k}
				}
			}
		}
	}
	var ras fdk.Vec3
	for r := range 3 {
		row := b[280+16*r:]
		c := func(n int) float64 { return float64(math.Float32frombits(le.Uint32(row[4*n:]))) }
		ras[r] = c(0)*float64(at[0]) + c(1)*float64(at[1]) + c(2)*float64(at[2]) + c(3)
	}
	return ras
}

// A study that knows its day but not its time writes that StudyDate and an
// empty StudyTime; an unreadable day is refused, named.
func TestStudyDateWithoutTime(t *testing.T) {
	vol, _ := testVolume()
	st := testStudy()
	st.StudyTime, st.StudyDate = time.Time{}, "2026-01-15"
	s, err := WriteSeries(t.TempDir(), st, testBins[0], vol, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	f := parse(t, s.Instances[0].Path)
	if d, tm := f.str(tag.StudyDate), f.str(tag.StudyTime); d != "20260115" || tm != "" {
		t.Errorf("StudyDate %q, StudyTime %q: want 20260115 and empty", d, tm)
	}
	st.StudyDate = "15/01/2026"
	if err := Check(st, testGrid(), testOptions); err == nil || !strings.Contains(err.Error(), "Study.StudyDate") {
		t.Errorf("unreadable StudyDate: %v", err)
	}
}
