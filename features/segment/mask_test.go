package segment

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/nifti"
)

// maskLabels labels testGrid's voxels: 3 the iodine sphere, 7 the lipid
// box, 100 the bone sphere and, where the type is signed, -2 the air box.
func maskLabels(signed bool) []int32 {
	shapes := []struct {
		label  int32
		inside func(fdk.Vec3) bool
	}{{3, sphere(iodineC, iodineR)}, {7, box(lipidLo, lipidHi)}, {100, sphere(boneC, boneR)}, {-2, box(airLo, airHi)}}
	g := testGrid
	out := make([]int32, g.Voxels())
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				for _, s := range shapes {
					if (signed || s.label > 0) && s.inside(g.Position(i, j, k)) {
						out[i+g.Dim[0]*(j+g.Dim[1]*k)] = s.label
					}
				}
			}
		}
	}
	return out
}

// checkMask checks the objects of a mask written by maskLabels.
func checkMask(t *testing.T, name string, seg *Segmentation, signed bool) {
	t.Helper()
	want := []int64{3, 7, 100}
	if signed {
		want = []int64{-2, 3, 7, 100}
	}
	if len(seg.Objects) != len(want) {
		t.Fatalf("%s: %d objects, want %d", name, len(seg.Objects), len(want))
	}
	for i, o := range seg.Objects {
		if o.Label != want[i] {
			t.Errorf("%s: object %d has label %d, want %d", name, i, o.Label, want[i])
		}
	}
	n := len(want)
	checkSphere(t, name+" label 3", seg.Objects[n-3], None, iodineC, iodineR)
	checkBox(t, name+" label 7", seg.Objects[n-2], None, lipidLo, lipidHi)
	checkSphere(t, name+" label 100", seg.Objects[n-1], None, boneC, boneR)
	if signed {
		checkBox(t, name+" label -2", seg.Objects[0], None, airLo, airHi)
	}
	if seg.Source == "" || len(seg.Settings.Mask) != 64 {
		t.Errorf("%s: source %q, mask hash %q", name, seg.Source, seg.Settings.Mask)
	}
}

// A mask gives one object per label, with the voxels, volumes, boxes and
// centroids of the shapes it labels, whatever its integer type: every
// MetaImage element type, every NIfTI-1 datatype, .nii and .nii.gz.
func TestFromMask(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range metaimage.LabelTypes() {
		signed := !strings.Contains(typ, "_U")
		path := filepath.Join(dir, typ+".mha")
		if err := metaimage.WriteLabels(path, testGrid, maskLabels(signed), typ); err != nil {
			t.Fatal(err)
		}
		seg, err := FromMask(path, testGrid)
		if err != nil {
			t.Fatal(err)
		}
		checkMask(t, typ, seg, signed)
	}
	for _, dt := range nifti.Datatypes() {
		signed := !strings.HasPrefix(dt.String(), "u")
		for _, ext := range []string{".nii", ".nii.gz"} {
			path := filepath.Join(dir, dt.String()+ext)
			if err := nifti.WriteLabels(path, testGrid, maskLabels(signed), dt); err != nil {
				t.Fatal(err)
			}
			seg, err := FromMask(path, testGrid)
			if err != nil {
				t.Fatal(err)
			}
			checkMask(t, dt.String()+ext, seg, signed)
		}
	}
}

// A mask that is not on the volumes' grid, is not a label image or is of
// an unknown format is an error naming the file and the field.
func TestFromMaskRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, g fdk.Grid) string {
		path := filepath.Join(dir, name)
		var err error
		if strings.HasSuffix(name, ".mha") {
			err = metaimage.WriteLabels(path, g, make([]int32, g.Voxels()), "MET_UCHAR")
		} else {
			err = nifti.WriteLabels(path, g, make([]int32, g.Voxels()), nifti.Uint8)
		}
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	spacing, origin, dims := testGrid, testGrid, testGrid
	spacing.Spacing[1] = 0.6
	origin.Origin[2] += 0.1
	dims.Dim[0]--
	floatMask := filepath.Join(dir, "float.mha")
	if err := metaimage.Write(floatMask, fdk.NewVolume(testGrid)); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "mask.png")
	os.WriteFile(other, []byte("png"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{write("spacing.mha", spacing), "ElementSpacing [0.5 0.6 0.75] mm"},
		{write("origin.mha", origin), "Offset puts the first voxel at"},
		{write("dims.mha", dims), "DimSize [47 40 24]"},
		{write("spacing.nii.gz", spacing), "pixdim (or the sform's diagonal) [0.5 0.6 0.75] mm"},
		{write("origin.nii", origin), "qoffset (or the sform's last column) puts"},
		{write("dims.nii", dims), "dim [47 40 24]"},
		{floatMask, `ElementType = "MET_FLOAT", a label image needs`},
		{other, "not .mha, .nii or .nii.gz"},
		{filepath.Join(dir, "missing.nii"), "no such file"},
	} {
		_, err := FromMask(tc.path, testGrid)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: err = %v, want it to name the file and mention %q", filepath.Base(tc.path), err, tc.want)
		}
	}
}

// Stats gives each object's mean and sample standard deviation, leaving
// out voxels of exactly 0, and names a NaN voxel.
func TestStats(t *testing.T) {
	g := fdk.Grid{Dim: [3]int{4, 1, 1}, Spacing: [3]float64{1, 1, 1}}
	seg := &Segmentation{Grid: g, Map: []int32{1, 1, 2, 1}, Objects: make([]Object, 2)}
	v := &fdk.Volume{Grid: g, Data: []float32{1, 0, 5, 3}}
	st, err := seg.Stats(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Stat{{2, 2, math.Sqrt(2)}, {1, 5, 0}}; fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("stats %v, want %v", st, want)
	}
	v.Data[3] = float32(math.NaN())
	if _, err := seg.Stats(v); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "voxel (3, 0, 0) is NaN") {
		t.Errorf("NaN: %v", err)
	}
}
