package dicomio

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/peertest"
)

// testGrid is small and deliberately asymmetric (every dimension, spacing
// and origin differs) so that a swapped axis or a transposed slice shows.
func testGrid() fdk.Grid {
	return fdk.CenteredGrid([3]int{7, 5, 4}, [3]float64{0.3, 0.45, 0.9}, fdk.Vec3{1.5, -2.25, 10})
}

// testVolume fills testGrid with seeded random attenuation around water's
// (0.02/mm), from air to dense bone, and puts two values that int16 cannot
// hold after the rescale at known voxels.
func testVolume() (v *fdk.Volume, clamped int) {
	v = fdk.NewVolume(testGrid())
	r := rand.New(rand.NewPCG(1, 2))
	for i := range v.Data {
		v.Data[i] = float32(r.Float64() * 0.06)
	}
	v.Data[3] = 20  // 999,000 HU
	v.Data[40] = -2 // below -67,000 HU
	return v, 2
}

func testStudy() Study {
	return Study{
		PatientName:         "Müller^Jürgen", // Latin-1, not ASCII
		PatientID:           "MARS-0042",
		PatientBirthDate:    "1970-03-04",
		PatientSex:          "O",
		StudyID:             "S42",
		AccessionNumber:     "ACC42",
		StudyDescription:    "Spectral CT of a phantom",
		ReferringPhysician:  "Smith^Ann^^Dr",
		StudyInstanceUID:    NewUID(),
		FrameOfReferenceUID: NewUID(),
		StudyTime:           time.Date(2026, 3, 4, 9, 8, 7, 123456000, time.FixedZone("NZDT", 13*3600)),
		Manufacturer:        "MARS Bioimaging",
		Model:               "MARS 5X120",
		StationName:         "MARS1",
		SoftwareVersion:     "ctrecon test",
	}
}

var testBins = []Bin{
	{Index: 1, LowKeV: 20, HighKeV: 35, MuWater: 0.0302},
	{Index: 4, LowKeV: 80, MuWater: 0.0180, SeriesNumber: 12}, // open top bin
}

var testOptions = Options{KVP: 118, SourceToIsocentre: 156.5, SourceToDetector: 256.1, Filter: "hann 0.8", PatientPosition: "HFS"}

// writeStudy writes every test bin of one study under a new folder.
func writeStudy(t *testing.T, st Study, vol *fdk.Volume) (string, []Series) {
	t.Helper()
	dir := t.TempDir()
	var out []Series
	for _, b := range testBins {
		s, err := WriteSeries(dir, st, b, vol, testOptions)
		if err != nil {
			t.Fatalf("bin %d: %v", b.Index, err)
		}
		out = append(out, s)
	}
	return dir, out
}

func TestNewUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		u := NewUID()
		if !strings.HasPrefix(u, "2.25.") || !ValidUID(u) || len(u) > 64 || seen[u] {
			t.Fatalf("bad or repeated UID %q", u)
		}
		seen[u] = true
	}
	for _, bad := range []string{"", "1..2", "1.02", "1.2.", "1.a", strings.Repeat("1.", 32) + "1"} {
		if ValidUID(bad) {
			t.Errorf("ValidUID(%q) = true", bad)
		}
	}
}

// DeriveUID is RFC 9562's version 5 UUID of ctrecon's namespace and the
// length-prefixed parts, checked against Python's uuid.uuid5:
//
//	uuid.uuid5(UUID("451788c1-215d-4de3-8032-8480283605c3"), "5:study8:SIM-00013:job").int
func TestDeriveUID(t *testing.T) {
	if got, want := DeriveUID("study", "SIM-0001", "job"), "2.25.83676486897120266423727789155698689390"; got != want {
		t.Errorf("DeriveUID = %s, want %s (Python's uuid5)", got, want)
	}
	seen := map[string][]string{}
	for _, parts := range [][]string{{"study", "S", "j1"}, {"study", "S", "j2"}, {"series", "S", "j1"}, {"ab", "c"}, {"a", "bc"}, {"abc"}, {""}, {}} {
		u := DeriveUID(parts...)
		if !ValidUID(u) || !strings.HasPrefix(u, "2.25.") {
			t.Errorf("DeriveUID(%q) = %q is not a UID", parts, u)
		}
		if prev, ok := seen[u]; ok {
			t.Errorf("DeriveUID(%q) = DeriveUID(%q) = %s", parts, prev, u)
		}
		seen[u] = parts
		if again := DeriveUID(parts...); again != u {
			t.Errorf("DeriveUID(%q) changed: %s, then %s", parts, u, again)
		}
	}
}

// A series written twice under the same SeriesInstanceUID, into two
// folders, has the same SOP Instance UIDs slice by slice, in the files too;
// another series UID gives other instances.
func TestInstanceUIDsFollowTheSeries(t *testing.T) {
	vol, _ := testVolume()
	b := testBins[0]
	b.SeriesInstanceUID = DeriveUID("series", "test")
	first, err := WriteSeries(t.TempDir(), testStudy(), b, vol, Options{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := WriteSeries(t.TempDir(), testStudy(), b, vol, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.SeriesInstanceUID = DeriveUID("series", "other")
	other, err := WriteSeries(t.TempDir(), testStudy(), b, vol, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for k, in := range first.Instances {
		if got := parse(t, again.Instances[k].Path).str(tag.SOPInstanceUID); got != in.SOPInstanceUID {
			t.Errorf("slice %d: SOP Instance UID %s the first time, %s the second", k, in.SOPInstanceUID, got)
		}
		if other.Instances[k].SOPInstanceUID == in.SOPInstanceUID {
			t.Errorf("slice %d: two series share SOP Instance UID %s", k, in.SOPInstanceUID)
		}
	}
}

func TestFormatDS(t *testing.T) {
	for _, v := range []float64{0, 1, -1024, 0.45, 1.0 / 3, -2.0 / 3, 123456.78901234567, -1.5e-300, 6.02e23, -math.MaxFloat64, math.SmallestNonzeroFloat64} {
		s := formatDS(v)
		got, err := strconv.ParseFloat(s, 64)
		if len(s) > 16 || err != nil {
			t.Errorf("formatDS(%g) = %q: %d characters, %v", v, s, len(s), err)
			continue
		}
		// 16 characters keep at least 9 significant digits.
		if math.Abs(got-v) > 1e-8*math.Abs(v) {
			t.Errorf("formatDS(%g) = %q reads back as %g", v, s, got)
		}
	}
}

// file is one parsed instance, read with the same library that wrote it.
type file struct {
	t  *testing.T
	ds dicom.Dataset
}

func parse(t *testing.T, path string) file {
	t.Helper()
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return file{t, ds}
}

func (f file) str(tg tag.Tag) string {
	f.t.Helper()
	e, err := f.ds.FindElementByTag(tg)
	if err != nil {
		f.t.Fatalf("%v: %v", tag.DebugString(tg), err)
	}
	return strings.Join(dicom.MustGetStrings(e.Value), `\`)
}

func (f file) num(tg tag.Tag) []float64 {
	f.t.Helper()
	var out []float64
	for s := range strings.SplitSeq(f.str(tg), `\`) {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			f.t.Fatalf("%v: %v", tag.DebugString(tg), err)
		}
		out = append(out, v)
	}
	return out
}

func (f file) us(tg tag.Tag) int {
	f.t.Helper()
	e, err := f.ds.FindElementByTag(tg)
	if err != nil {
		f.t.Fatalf("%v: %v", tag.DebugString(tg), err)
	}
	return dicom.MustGetInts(e.Value)[0]
}

func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !(math.Abs(a[i]-b[i]) <= 1e-9*max(1, math.Abs(b[i]))) {
			return false
		}
	}
	return true
}

// TestRoundTrip reads every file back and checks pixels against the HU the
// volume implies, the geometry against the grid, and the UIDs across bins.
func TestRoundTrip(t *testing.T) {
	vol, wantClamped := testVolume()
	st := testStudy()
	_, series := writeStudy(t, st, vol)
	g := vol.Grid
	nx, ny, nz := g.Dim[0], g.Dim[1], g.Dim[2]

	sops := map[string]bool{}
	for bi, s := range series {
		b := testBins[bi]
		if s.StudyInstanceUID != st.StudyInstanceUID || s.FrameOfReferenceUID != st.FrameOfReferenceUID {
			t.Errorf("bin %d: study or frame UIDs differ from the Study's", b.Index)
		}
		if s.Clamped != wantClamped {
			t.Errorf("bin %d: %d voxels clamped, want %d", b.Index, s.Clamped, wantClamped)
		}
		if len(s.Instances) != nz {
			t.Fatalf("bin %d: %d files for %d slices", b.Index, len(s.Instances), nz)
		}
		for k, inst := range s.Instances {
			f := parse(t, inst.Path)
			checkOrder(t, inst.Path, f.ds)
			for tg, want := range map[tag.Tag]string{
				tag.TransferSyntaxUID:            explicitVRLittleEndian,
				tag.MediaStorageSOPClassUID:      ctImageStorage,
				tag.SOPClassUID:                  ctImageStorage,
				tag.ImplementationClassUID:       implementationClassUID,
				tag.MediaStorageSOPInstanceUID:   inst.SOPInstanceUID,
				tag.SOPInstanceUID:               inst.SOPInstanceUID,
				tag.StudyInstanceUID:             st.StudyInstanceUID,
				tag.FrameOfReferenceUID:          st.FrameOfReferenceUID,
				tag.SeriesInstanceUID:            s.SeriesInstanceUID,
				tag.SeriesNumber:                 strconv.Itoa(s.SeriesNumber),
				tag.SeriesDescription:            s.Description,
				tag.InstanceNumber:               strconv.Itoa(k + 1),
				tag.Modality:                     "CT",
				tag.PatientName:                  st.PatientName, // decoded from ISO 8859-1 by the reader
				tag.SpecificCharacterSet:         "ISO_IR 100",
				tag.PatientBirthDate:             "19700304",
				tag.StudyDate:                    "20260304",
				tag.StudyTime:                    "090807.123456",
				tag.TimezoneOffsetFromUTC:        "+1300",
				tag.ImageType:                    `ORIGINAL\PRIMARY\AXIAL`,
				tag.PhotometricInterpretation:    "MONOCHROME2",
				tag.RescaleType:                  "HU",
				tag.WindowCenterWidthExplanation: `SOFT TISSUE\BONE\LUNG`,
			} {
				if got := f.str(tg); got != want {
					t.Errorf("%s: %s = %q, want %q", inst.Path, tag.DebugString(tg), got, want)
				}
			}
			z := g.Origin[2] + float64(k)*g.Spacing[2]
			for tg, want := range map[tag.Tag][]float64{
				tag.ImagePositionPatient:    {g.Origin[0], g.Origin[1], z},
				tag.ImageOrientationPatient: {1, 0, 0, 0, 1, 0},
				tag.PixelSpacing:            {g.Spacing[1], g.Spacing[0]}, // row spacing (y), then column spacing (x)
				tag.SliceThickness:          {g.Spacing[2]},
				tag.SpacingBetweenSlices:    {g.Spacing[2]},
				tag.SliceLocation:           {z},
				tag.KVP:                     {testOptions.KVP},
				tag.WindowCenter:            {40, 400, -600},
				tag.WindowWidth:             {400, 1800, 1500},
			} {
				if got := f.num(tg); !near(got, want) {
					t.Errorf("%s: %s = %v, want %v", inst.Path, tag.DebugString(tg), got, want)
				}
			}
			for tg, want := range map[tag.Tag]int{tag.Rows: ny, tag.Columns: nx, tag.BitsAllocated: 16, tag.BitsStored: 16, tag.HighBit: 15, tag.PixelRepresentation: 1, tag.SamplesPerPixel: 1} {
				if got := f.us(tg); got != want {
					t.Errorf("%s: %s = %d, want %d", inst.Path, tag.DebugString(tg), got, want)
				}
			}
			if sops[inst.SOPInstanceUID] {
				t.Errorf("%s: SOPInstanceUID repeated", inst.Path)
			}
			sops[inst.SOPInstanceUID] = true
			checkPixels(t, f, vol, k, b.MuWater)
		}
	}
	if series[0].SeriesInstanceUID == series[1].SeriesInstanceUID || series[0].Dir == series[1].Dir {
		t.Errorf("two bins share a series UID or folder: %+v", series)
	}
	if got := series[0].Description; got != "Bin 1: 20-35 keV" {
		t.Errorf("description %q", got)
	}
	if got := series[1].Description; got != "Bin 4: above 80 keV" {
		t.Errorf("description %q", got)
	}
	if series[0].SeriesNumber != 2 || series[1].SeriesNumber != 12 {
		t.Errorf("series numbers %d, %d, want 2 (Index+1) and 12 (given)", series[0].SeriesNumber, series[1].SeriesNumber)
	}
}

// checkOrder fails unless the file meta group and the data set are each in
// ascending tag order, as PS3.5 7.1 requires and the library does not do.
func checkOrder(t *testing.T, path string, ds dicom.Dataset) {
	t.Helper()
	key := func(e *dicom.Element) uint32 { return uint32(e.Tag.Group)<<16 | uint32(e.Tag.Element) }
	for i := 1; i < len(ds.Elements); i++ {
		if key(ds.Elements[i]) <= key(ds.Elements[i-1]) {
			t.Fatalf("%s: %v follows %v", path, ds.Elements[i].Tag, ds.Elements[i-1].Tag)
		}
	}
}

// checkPixels compares slice k's stored values, rescaled, with the HU
// computed here in float64 from the volume.
func checkPixels(t *testing.T, f file, vol *fdk.Volume, k int, muWater float64) {
	t.Helper()
	slope, intercept := f.num(tag.RescaleSlope)[0], f.num(tag.RescaleIntercept)[0]
	e, err := f.ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatal(err)
	}
	info := dicom.MustGetPixelDataInfo(e.Value)
	if len(info.Frames) != 1 {
		t.Fatalf("%d frames", len(info.Frames))
	}
	raw := info.Frames[0].NativeData.RawDataSlice().([]uint16)
	nx, ny := vol.Grid.Dim[0], vol.Grid.Dim[1]
	if len(raw) != nx*ny {
		t.Fatalf("%d pixels for %dx%d", len(raw), nx, ny)
	}
	lo, hi := (math.MinInt16+1)*slope+intercept, math.MaxInt16*slope+intercept // the lowest is kept for padding
	for j := range ny {
		for i := range nx {
			got := float64(int16(raw[j*nx+i]))*slope + intercept // row j, column i
			hu := 1000 * (float64(vol.At(i, j, k)) - muWater) / muWater
			want := max(lo, min(hi, hu))
			if !(math.Abs(got-want) <= 0.5+1e-9) {
				t.Fatalf("voxel (%d, %d, %d): %g HU in the file, want %g", i, j, k, got, want)
			}
		}
	}
}

// TestUTF8 checks that a name outside ISO 8859-1 (Māori macrons) switches
// the series to ISO_IR 192 and reads back unchanged.
func TestUTF8(t *testing.T) {
	vol, _ := testVolume()
	st := testStudy()
	st.PatientName = "Tūhoe^Āperahama"
	s, err := WriteSeries(t.TempDir(), st, testBins[0], vol, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := parse(t, s.Instances[0].Path)
	if got := f.str(tag.SpecificCharacterSet); got != "ISO_IR 192" {
		t.Errorf("SpecificCharacterSet %q", got)
	}
	if got := f.str(tag.PatientName); got != st.PatientName {
		t.Errorf("PatientName %q, want %q", got, st.PatientName)
	}
}

func TestProgressAndNames(t *testing.T) {
	g := fdk.CenteredGrid([3]int{2, 3, 12}, [3]float64{1, 1, 1}, fdk.Vec3{})
	vol := fdk.NewVolume(g)
	var calls []int
	opts := Options{Progress: func(done, total int) {
		if total != 12 {
			t.Errorf("total %d", total)
		}
		calls = append(calls, done)
	}}
	dir := t.TempDir()
	s, err := WriteSeries(dir, testStudy(), testBins[0], vol, opts)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(calls) != "[1 2 3 4 5 6 7 8 9 10 11 12]" {
		t.Errorf("progress calls %v", calls)
	}
	if want := filepath.Join(dir, "bin1_20-35keV", "IM_0012.dcm"); s.Instances[11].Path != want {
		t.Errorf("last file %s, want %s", s.Instances[11].Path, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d entries in the output folder, want only the series folder", len(entries))
	}
}

func TestBadInput(t *testing.T) {
	good, _ := testVolume()
	nan := fdk.NewVolume(good.Grid)
	nan.Data[2+7*(1+5*3)] = float32(math.NaN())
	inf := fdk.NewVolume(good.Grid)
	inf.Data[0] = float32(math.Inf(-1))
	short := fdk.NewVolume(good.Grid)
	short.Data = short.Data[1:]
	cases := []struct {
		name string
		vol  *fdk.Volume
		st   func(*Study)
		b    func(*Bin)
		o    func(*Options)
		want string // in the message
	}{
		{name: "nil volume", want: "nil"},
		{name: "empty volume", vol: &fdk.Volume{}, want: "dim x = 0"},
		{name: "short data", vol: short, want: "139 values"},
		{name: "NaN voxel", vol: nan, want: "voxel (2, 1, 3)"},
		{name: "infinite voxel", vol: inf, want: "voxel (0, 0, 0)"},
		{name: "zero mu water", b: func(b *Bin) { b.MuWater = 0 }, want: "Bin.MuWater"},
		{name: "negative mu water", b: func(b *Bin) { b.MuWater = -0.02 }, want: "Bin.MuWater"},
		{name: "NaN mu water", b: func(b *Bin) { b.MuWater = math.NaN() }, want: "Bin.MuWater"},
		{name: "infinite mu water", b: func(b *Bin) { b.MuWater = math.Inf(1) }, want: "Bin.MuWater"},
		{name: "thresholds reversed", b: func(b *Bin) { b.HighKeV = 10 }, want: "Bin.HighKeV"},
		{name: "bad series UID", b: func(b *Bin) { b.SeriesInstanceUID = "1.2.03" }, want: "Bin.SeriesInstanceUID"},
		{name: "no study UID", st: func(s *Study) { s.StudyInstanceUID = "" }, want: "NewUID"},
		{name: "bad frame UID", st: func(s *Study) { s.FrameOfReferenceUID = "abc" }, want: "Study.FrameOfReferenceUID"},
		{name: "sex", st: func(s *Study) { s.PatientSex = "male" }, want: "Study.PatientSex"},
		{name: "birth date", st: func(s *Study) { s.PatientBirthDate = "04/03/1970" }, want: "Study.PatientBirthDate"},
		{name: "long station", st: func(s *Study) { s.StationName = "a station name of 31 characters" }, want: "Study.StationName"},
		{name: "backslash", st: func(s *Study) { s.PatientID = `A\B` }, want: "Study.PatientID"},
		{name: "control character", st: func(s *Study) { s.StudyDescription = "a\nb" }, want: "Study.StudyDescription"},
		{name: "window", o: func(o *Options) { o.Windows = []Window{{Center: 40, Width: 0}} }, want: "Options.Windows[0]"},
		{name: "position", o: func(o *Options) { o.PatientPosition = "HEAD" }, want: "Options.PatientPosition"},
		{name: "kVp", o: func(o *Options) { o.KVP = math.NaN() }, want: "Options.KVP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, b, o := testStudy(), testBins[0], testOptions
			if c.st != nil {
				c.st(&st)
			}
			if c.b != nil {
				c.b(&b)
			}
			if c.o != nil {
				c.o(&o)
			}
			vol := c.vol
			if vol == nil && c.name != "nil volume" {
				vol = good
			}
			dir := t.TempDir()
			_, err := WriteSeries(dir, st, b, vol, o)
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrInput naming %q", err, c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("bad input left %d entries in the output folder", len(entries))
			}
		})
	}
}

func TestUnwritable(t *testing.T) {
	vol, _ := testVolume()
	st, b := testStudy(), testBins[0]

	// A folder inside a regular file cannot be made, even by root.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSeries(filepath.Join(file, "out"), st, b, vol, Options{}); err == nil || errors.Is(err, ErrInput) {
		t.Errorf("folder under a file: error %v", err)
	}

	if os.Geteuid() != 0 { // root ignores permissions
		ro := t.TempDir()
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(ro, 0o755)
		if _, err := WriteSeries(ro, st, b, vol, Options{}); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("read-only folder: error %v", err)
		}
	}

	// A second write of the same bin must not mix with the first.
	dir := t.TempDir()
	if _, err := WriteSeries(dir, st, b, vol, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSeries(dir, st, b, vol, Options{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("existing series folder: error %v", err)
	}

	// A failure half-way leaves neither a partial series nor a temporary
	// folder: pull the folder away after the first file.
	dir = t.TempDir()
	pull := Options{Progress: func(done, _ int) {
		if done == 1 {
			tmp, _ := filepath.Glob(filepath.Join(dir, ".bin*"))
			for _, p := range tmp {
				os.RemoveAll(p)
			}
		}
	}}
	if _, err := WriteSeries(dir, st, b, vol, pull); err == nil {
		t.Fatal("no error when the folder vanished")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed write left %v", entries)
	}
}

// TestDciodvfy runs dicom3tools' validator over every file of a two-bin
// study, once with ISO 8859-1 and once with UTF-8 text, and fails on any
// error it reports.
func TestDciodvfy(t *testing.T) {
	tool := peertest.Tool(t, "dciodvfy", "dicom3tools")
	vol, _ := testVolume()
	utf8 := testStudy()
	utf8.PatientName = "Tūhoe^Āperahama"
	for _, st := range []Study{testStudy(), utf8} {
		_, series := writeStudy(t, st, vol)
		for _, s := range series {
			dciodvfy(t, tool, s)
		}
	}
}

// dciodvfy runs dicom3tools' validator over every file of a series and
// fails on any error it reports; it logs its report on the first file.
func dciodvfy(t *testing.T, tool string, s Series) {
	t.Helper()
	for _, inst := range s.Instances {
		out, err := exec.Command(tool, inst.Path).CombinedOutput()
		text := string(out)
		if !strings.Contains(text, "CTImage") {
			t.Fatalf("%s: dciodvfy did not check it as a CT image (%v):\n%s", inst.Path, err, text)
		}
		for line := range strings.Lines(text) {
			if strings.HasPrefix(line, "Error") {
				t.Errorf("%s: %s", inst.Path, strings.TrimSpace(line))
			}
		}
		if inst == s.Instances[0] {
			t.Logf("dciodvfy %s:\n%s", filepath.Base(inst.Path), text)
		}
	}
}

// TestDcmdump checks that DCMTK, which Orthanc is built on, reads every file
// without complaint and finds the pixel data and the slice size.
func TestDcmdump(t *testing.T) {
	tool := peertest.Tool(t, "dcmdump", "dcmtk")
	vol, _ := testVolume()
	_, series := writeStudy(t, testStudy(), vol)
	nx, ny := vol.Grid.Dim[0], vol.Grid.Dim[1]
	for _, s := range series {
		for _, inst := range s.Instances {
			// dcmdump stops on a damaged file and logs warnings to stderr.
			cmd := exec.Command(tool, inst.Path)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || stderr.Len() > 0 {
				t.Fatalf("%s: dcmdump: %v\n%s", inst.Path, err, stderr.String())
			}
			text := string(out)
			for _, want := range []string{
				fmt.Sprintf("(0028,0010) US %d ", ny),
				fmt.Sprintf("(0028,0011) US %d ", nx),
				"(7fe0,0010) OW ",
				fmt.Sprintf(" %d, 1 PixelData\n", 2*nx*ny),
				"(0002,0010) UI =LittleEndianExplicit",
				"(0008,0016) UI =CTImageStorage",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("%s: dcmdump output lacks %q", inst.Path, want)
				}
			}
		}
	}
}

// CheckValue accepts what each VR allows and names why it refuses the
// rest (PS3.5 6.2).
func TestCheckValue(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []struct {
		vr, value string
		want      string // "" for valid, else in the message
	}{
		{"LO", long(64), ""}, {"LO", long(65), "65 characters, LO allows 64"},
		{"LO", strings.Repeat("ü", 64), ""}, // characters, not bytes
		{"LO", "a\\b", "backslash"}, {"LO", "a\tb", "control character"},
		{"SH", long(16), ""}, {"SH", long(17), "SH allows 16"},
		{"CS", "HFS", ""}, {"CS", "hfs", "upper case"}, {"CS", long(17), "CS allows 16"},
		{"PN", "Smith^Ann^^Dr^Jr", ""}, {"PN", "A^B^C^D^E^F", "more than 5 components"},
		{"PN", long(64) + "=" + long(64), ""}, {"PN", long(65), "PN allows 64"}, {"PN", "a=b=c=d", "component groups"},
		{"LT", "two\nlines", ""},
		{"DA", "20260304", ""}, {"DA", "20260230", "not a date"}, {"DA", "2026-03-04", "not a date"}, {"DA", "2026030", "not a date"},
		{"TM", "090807.123456", ""}, {"TM", "0908", ""}, {"TM", "09", ""}, {"TM", "245900", "not a time"},
		{"TM", "09:08:07", "not a time"}, {"TM", "090807.1234567", "not a time"},
		{"DS", "-1024", ""}, {"DS", "1.5e-3", ""}, {"DS", " .5 ", ""}, {"DS", "12345678901234567", "not a decimal"},
		{"DS", "NaN", "not a decimal"}, {"DS", "1,5", "not a decimal"}, {"DS", "1e999", "not a decimal"},
		{"IS", "-2147483648", ""}, {"IS", "2147483648", "not an integer"}, {"IS", "1.0", "not an integer"},
		{"UI", "1.2.840.10008.1.2.1", ""}, {"UI", "1.02", "not a UID"}, {"UI", "2.25." + strings.Repeat("1", 60), "not a UID"},
		{"XX", "a", "not one ctrecon writes"},
		{"DA", "", ""}, {"UI", "", ""},
	}
	for _, c := range cases {
		err := CheckValue(c.vr, c.value)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckValue(%s, %q) = %v, want nil", c.vr, c.value, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("CheckValue(%s, %q) = %v, want an error saying %q", c.vr, c.value, err, c.want)
		}
	}
}

// Check finds, without a volume, what WriteSeries would refuse: a study
// description of 93 characters, named; a slice wider than Rows/Columns
// hold. A study it accepts is written.
func TestCheck(t *testing.T) {
	g := testGrid()
	if err := Check(testStudy(), g, testOptions); err != nil {
		t.Fatalf("good study: %v", err)
	}
	st := testStudy()
	st.StudyDescription = strings.Repeat("spectral ", 10) + "CT" + "." // 93 characters
	if err := Check(st, g, testOptions); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "Study.StudyDescription") ||
		!strings.Contains(err.Error(), "93 characters") {
		t.Errorf("93-character description: %v", err)
	}
	wide := fdk.CenteredGrid([3]int{70000, 2, 2}, [3]float64{1, 1, 1}, fdk.Vec3{})
	if err := Check(testStudy(), wide, testOptions); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "65535") {
		t.Errorf("70000-voxel rows: %v", err)
	}
	o := testOptions
	o.Filter = "a filter name of 24 ch."
	if err := Check(testStudy(), g, o); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "Options.Filter") {
		t.Errorf("long filter name: %v", err)
	}
}

// EnergyBin reads the bin number from the SeriesDescription WriteSeries
// writes, closed or open bin, and refuses any other description.
func TestCTSeriesEnergyBin(t *testing.T) {
	for _, b := range []Bin{{Index: 2, LowKeV: 33.5, HighKeV: 50.5}, {Index: 4, LowKeV: 80}} {
		c := CTSeries{SeriesDescription: description(b)}
		if n, ok := c.EnergyBin(); !ok || n != b.Index {
			t.Errorf("%q: bin %d, %v: want %d", c.SeriesDescription, n, ok, b.Index)
		}
	}
	for _, d := range []string{"", "Thorax 1.0 B30f", "Bin x: 20 keV", "Bin -1: 20-30 keV", "Bin 3"} {
		if n, ok := (&CTSeries{SeriesDescription: d}).EnergyBin(); ok {
			t.Errorf("%q: bin %d, want none", d, n)
		}
	}
}
