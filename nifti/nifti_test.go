package nifti

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fuzztest"
	"github.com/ctrecon/ctrecon/internal/peertest"
)

// testGrid is small, anisotropic and off the isocentre on every axis.
var testGrid = fdk.Grid{Dim: [3]int{5, 4, 3}, Spacing: [3]float64{0.6, 0.25, 2}, Origin: fdk.Vec3{-1.5, 2.25, -100}}

// testLabels are labels for testGrid that fit every datatype: (i·37) mod 121.
func testLabels() []int32 {
	l := make([]int32, testGrid.Voxels())
	for i := range l {
		l[i] = int32(i*37) % 121
	}
	return l
}

// Every integer datatype writes and reads back the same labels and grid,
// uncompressed and gzipped, its extreme values included.
func TestRoundTrip(t *testing.T) {
	for _, dt := range Datatypes() {
		want := testLabels()
		want[3] = int32(max(integers[dt].min, -1<<31))
		want[5] = int32(min(integers[dt].max, 1<<31-1))
		for _, name := range []string{"mask.nii", "mask.nii.gz"} {
			path := filepath.Join(t.TempDir(), name)
			if err := WriteLabels(path, testGrid, want, dt); err != nil {
				t.Fatalf("%s %s: %v", dt, name, err)
			}
			g, got, err := ReadLabels(path)
			if err != nil {
				t.Fatalf("%s %s: %v", dt, name, err)
			}
			if g != testGrid || !slices.Equal(got, want) {
				t.Errorf("%s %s: read grid %+v labels %v, wrote %+v %v", dt, name, g, got, testGrid, want)
			}
		}
	}
}

// nibabelScript writes, in the folder given as its first argument, one
// label image per integer dtype with nibabel (some big endian, some with a
// qform only, .nii and .nii.gz), and checks the files ctrecon wrote there
// (ours_<dtype>.nii[.gz]): their data, dtype and affine.
const nibabelScript = `
import sys, numpy as np, nibabel as nib
d = sys.argv[1]
dim, sp, org = (5, 4, 3), (0.6, 0.25, 2.0), (-1.5, 2.25, -100.0)
labels = ((np.arange(60) * 37) % 121).reshape(dim, order="F")
# ctrecon's world is LPS (ITK's); NIfTI's is RAS: x and y change sign.
affine = np.array([[-sp[0], 0, 0, -org[0]], [0, -sp[1], 0, -org[1]], [0, 0, sp[2], org[2]], [0, 0, 0, 1]])
dtypes = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
for i, dt in enumerate(dtypes):
    order = ">" if i % 2 else "<"
    hdr = nib.Nifti1Header(endianness=order)
    hdr.set_data_dtype(dt)
    img = nib.Nifti1Image(labels.astype(dt), affine, header=hdr)
    if i % 3 == 1:
        img.header.set_sform(None, code=0)  # the qform alone places it
    img.header.set_xyzt_units("mm")
    name = "%s/nib_%s.nii%s" % (d, dt, ".gz" if i % 2 else "")
    nib.save(img, name)
    back = nib.load(name)
    assert back.header.endianness == order and back.get_data_dtype() == np.dtype(dt).newbyteorder(order), (name, back.header.endianness)
for i, dt in enumerate(dtypes):
    img = nib.load("%s/ours_%s.nii%s" % (d, dt, ".gz" if i % 2 else ""))
    data = np.asanyarray(img.dataobj)
    assert data.dtype == np.dtype(dt), (dt, data.dtype)
    assert np.array_equal(data, labels), dt
    assert np.allclose(img.affine, affine, atol=1e-6), (dt, img.affine)
    assert np.allclose(img.get_qform(), affine, atol=1e-6), (dt, img.get_qform())
print("ok")
`

// Label images that nibabel writes (every integer dtype, both byte orders,
// sform or qform alone, gzipped or not) read back as the labels and grid
// they hold, and nibabel reads ctrecon's the same: the header layout, the
// byte order, the RAS/LPS change and the quaternion are NIfTI's, not only
// ours.
func TestNibabel(t *testing.T) {
	// Debian's interpreter, which sees Debian's python3-nibabel; a python3
	// earlier on the PATH (pyenv, a virtual environment) may not.
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import nibabel").Run(); err != nil {
		peertest.Missing(t, python+" cannot import nibabel (Debian package python3-nibabel, installed by `make deps`)")
	}
	dir := t.TempDir()
	for i, dt := range []Datatype{Uint8, Int8, Int16, Uint16, Int32, Uint32, Int64, Uint64} {
		name := fmt.Sprintf("ours_%s.nii", dt)
		if i%2 == 1 {
			name += ".gz"
		}
		if err := WriteLabels(filepath.Join(dir, name), testGrid, testLabels(), dt); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(python, "-c", nibabelScript, dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("nibabel: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "nib_*"))
	if len(files) != 8 {
		t.Fatalf("nibabel wrote %d files, want 8", len(files))
	}
	for _, f := range files {
		g, got, err := ReadLabels(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if g != testGrid || !slices.Equal(got, testLabels()) {
			t.Errorf("%s: grid %+v labels %v, want %+v %v", filepath.Base(f), g, got, testGrid, testLabels())
		}
	}
}

// encoded returns testGrid's labels as uint8, with edit applied to the
// header first.
func encoded(t testing.TB, edit func(h *header)) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeLabels(&b, testGrid, testLabels(), Uint8); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	var h header
	if err := binary.Read(bytes.NewReader(data), binary.LittleEndian, &h); err != nil {
		t.Fatal(err)
	}
	edit(&h)
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, &h)
	out.Write(data[headerSize:])
	return out.Bytes()
}

// What a label image cannot be is an error naming the header field or the
// voxel data, with the file's name; a header promising more than the file
// holds costs no more memory than the file.
func TestRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(h *header)
		tail string
		want string
	}{
		{"float", func(h *header) { h.Datatype, h.Bitpix = 16, 32 }, "", "datatype = 16, a label image needs an integer type"},
		{"bitpix", func(h *header) { h.Bitpix = 16 }, "", "bitpix = 16"},
		{"pair", func(h *header) { h.Magic = [4]byte{'n', 'i', '1', 0} }, "", `magic = "ni1": a .hdr/.img pair`},
		{"nifti-2", func(h *header) { h.SizeofHdr = 540 }, "", "sizeof_hdr = 540"},
		{"no space", func(h *header) { h.QformCode, h.SformCode = 0, 0 }, "", "qform_code = 0 and sform_code = 0"},
		{"scaled", func(h *header) { h.SclSlope = 2 }, "", "scl_slope = 2"},
		{"oblique", func(h *header) { h.SrowX[1] = 0.1 }, "", "sform (srow_x, srow_y, srow_z) is not axis-aligned"},
		{"flipped", func(h *header) { h.SrowX[0] = 0.6 }, "", "sform (srow_x, srow_y, srow_z) flips or drops axis 0"},
		{"qform flipped", func(h *header) { h.SformCode, h.QuaternD = 0, 0 }, "", "qform (quatern_b/c/d, pixdim, qoffset) flips or drops axis 0"},
		{"time", func(h *header) { h.Dim[0], h.Dim[4] = 4, 2 }, "", "dim[4] = 2"},
		{"zero dim", func(h *header) { h.Dim[2] = 0 }, "", "dim[2] = 0"},
		{"units", func(h *header) { h.XYZTUnits = 5 }, "", "xyzt_units = 5"},
		{"vox_offset", func(h *header) { h.VoxOffset = 100 }, "", "vox_offset = 100"},
		{"short", func(h *header) {}, "", ""}, // filled below
		{"trailing", func(h *header) {}, "x", "voxel data: "},
		{"promised 2 GiB", func(h *header) { h.Dim = [8]int16{3, 32767, 32767, 2} }, "", "voxel data"},
	} {
		data := append(encoded(t, tc.edit), tc.tail...)
		if tc.name == "short" {
			data, tc.want = data[:len(data)-1], "voxel data"
		}
		path := filepath.Join(t.TempDir(), "bad.nii")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var err error
		fuzztest.AllocBound(t, len(data), 8, 2<<20, func() { _, _, err = ReadLabels(path) })
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want it to name %s and mention %q", tc.name, err, path, tc.want)
		}
		fuzztest.AllocBound(t, len(data), 8, 2<<20, func() { _, _, err = DecodeLabels(bytes.NewReader(data)) })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s from a stream: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	big := testLabels()
	big[7] = 300
	path := filepath.Join(t.TempDir(), "big.nii")
	if err := WriteLabels(path, testGrid, big, Uint8); err == nil || !strings.Contains(err.Error(), "voxel 7: label 300 does not fit uint8") {
		t.Errorf("WriteLabels of 300 as uint8: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("WriteLabels left %s behind after failing", path)
	}
}
