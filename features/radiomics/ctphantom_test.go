package radiomics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/internal/ibsitest"
)

// readCTSeries reads IBSI's CT phantom (implicit VR, 12 bits stored,
// rescaled) with dicomio.ReadCTSeries, as `ctrecon features` does.
func readCTSeries(t testing.TB, dir string) *Image {
	t.Helper()
	ct, err := dicomio.ReadCTSeries(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := ct.Grid
	return &Image{Grid: Grid{Size: g.Dim, Spacing: g.Spacing, Origin: g.Origin}, Data: ct.HU}
}

// readMaskMHA reads a MetaImage mask of unsigned bytes (MET_UCHAR, nonzero
// inside), as the CT phantom's mask.mha is written.
func readMaskMHA(t testing.TB, path string) *Mask {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	h := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: header: %v", path, err)
		}
		k, v, _ := strings.Cut(line, "=")
		h[strings.TrimSpace(k)] = strings.TrimSpace(v)
		if strings.TrimSpace(k) == "ElementDataFile" {
			break
		}
	}
	if h["ElementType"] != "MET_UCHAR" || h["ElementDataFile"] != "LOCAL" || h["TransformMatrix"] != "1 0 0 0 1 0 0 0 1" {
		t.Fatalf("%s: want a local MET_UCHAR image with identity direction, have %v", path, h)
	}
	var g Grid
	for key, dst := range map[string]func(a int, s string) error{
		"DimSize":        func(a int, s string) (err error) { g.Size[a], err = strconv.Atoi(s); return },
		"ElementSpacing": func(a int, s string) (err error) { g.Spacing[a], err = strconv.ParseFloat(s, 64); return },
		"Offset":         func(a int, s string) (err error) { g.Origin[a], err = strconv.ParseFloat(s, 64); return },
	} {
		fs := strings.Fields(h[key])
		if len(fs) != 3 {
			t.Fatalf("%s: %s %q", path, key, h[key])
		}
		for a, s := range fs {
			if err := dst(a, s); err != nil {
				t.Fatalf("%s: %s: %v", path, key, err)
			}
		}
	}
	data := make([]byte, g.Voxels())
	if _, err := io.ReadFull(r, data); err != nil {
		t.Fatalf("%s: voxel data: %v", path, err)
	}
	m := &Mask{Grid: g, Data: make([]bool, len(data))}
	for k, v := range data {
		m.Data[k] = v != 0
	}
	return m
}

// ctPhantom reads IBSI's CT radiomics phantom: the image from its DICOM
// series, the mask from mask.mha on the same grid.
func ctPhantom(t testing.TB) (*Image, *Mask, string) {
	t.Helper()
	dir := filepath.Join(ibsitest.Dir(t), "ct_phantom")
	img := readCTSeries(t, filepath.Join(dir, "dicom"))
	mask := readMaskMHA(t, filepath.Join(dir, "mask.mha"))
	return img, mask, dir
}

// TestCTPhantom checks every reference value of IBSI's CT radiomics
// phantom under configurations A to D, each within its tolerance.
func TestCTPhantom(t *testing.T) {
	img, mask, dir := ctPhantom(t)
	for _, config := range []string{"A", "B", "C", "D"} {
		t.Run(config, func(t *testing.T) {
			refs := ibsitest.ReadReferences(t, filepath.Join(dir, "reference_configs_A-D.csv"), "config. "+config)
			feats, err := Compute(img, mask, MustPreset("ibsi-"+strings.ToLower(config)))
			if err != nil {
				t.Fatal(err)
			}
			match, total, misses := compareWithReferences(t, refs, feats)
			report(t, fmt.Sprintf("IBSI CT phantom, configuration %s", config), match, total, misses)
			if len(misses) > 0 {
				t.Errorf("%d of %d reference values not reproduced (listed above)", len(misses), len(refs))
			}
		})
	}
}

// TestCTPhantomConfigE runs configuration E (tricubic spline interpolation,
// range and outlier re-segmentation, 32 bins, a 1000-bin IVH) on the CT
// phantom. Its reference values are not in shared/data; a CSV of them in
// the same format, named by CTRECON_IBSI_CONFIG_E, is checked too.
func TestCTPhantomConfigE(t *testing.T) {
	img, mask, _ := ctPhantom(t)
	s := MustPreset("ibsi-e")
	feats, err := Compute(img, mask, s)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, f := range Families {
		want += len(familyTable[f].defs())
	}
	// Every family once, except the 3D texture families: GLCM and GLRLM
	// twice (averaged, merged).
	want += len(cmDefs) + len(rlmFeatures)
	if len(feats) != want {
		t.Errorf("%d features, want %d", len(feats), want)
	}
	for _, f := range feats {
		if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
			t.Errorf("%s %q: %v", f.Tag, f.Aggregation, f.Value)
		}
	}
	path := os.Getenv("CTRECON_IBSI_CONFIG_E")
	if path == "" {
		t.Log("configuration E ran; set CTRECON_IBSI_CONFIG_E to a CSV of its reference values to check them")
		return
	}
	refs := ibsitest.ReadReferences(t, path, "config. E")
	match, total, misses := compareWithReferences(t, refs, feats)
	report(t, "IBSI CT phantom, configuration E", match, total, misses)
	if len(misses) > 0 {
		t.Errorf("%d of %d reference values not reproduced (listed above)", len(misses), len(refs))
	}
}
