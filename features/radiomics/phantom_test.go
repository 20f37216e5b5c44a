package radiomics

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ctrecon/ctrecon/internal/ibsitest"
)

// readDigitalPhantom reads IBSI's digital phantom (5 x 4 x 4 voxels of
// 2 mm) from its CSV: i_x, j_y, k_z, intensity, mask.
func readDigitalPhantom(t testing.TB, path string) (*Image, *Mask) {
	t.Helper()
	rows := ibsitest.ReadCSV(t, path)
	g := Grid{Size: [3]int{5, 4, 4}, Spacing: [3]float64{2, 2, 2}}
	img := &Image{Grid: g, Data: make([]float64, g.Voxels())}
	mask := &Mask{Grid: g, Data: make([]bool, g.Voxels())}
	for n, row := range rows[1:] {
		var v [5]int
		for c := range v {
			var err error
			if v[c], err = strconv.Atoi(row[c]); err != nil {
				t.Fatalf("%s:%d: column %d: %v", path, n+2, c+1, err)
			}
		}
		k := g.index(v[0], v[1], v[2])
		img.Data[k] = float64(v[3])
		mask.Data[k] = v[4] == 1
	}
	return img, mask
}

// TestDigitalPhantom reproduces every reference value IBSI gives for its
// digital phantom (482 values: morphology, local intensity, statistics,
// both histograms and the six texture families in every aggregation).
func TestDigitalPhantom(t *testing.T) {
	dir := ibsitest.Dir(t)
	img, mask := readDigitalPhantom(t, filepath.Join(dir, "ibsi1_digital_phantom_voxels.csv"))
	refs := ibsitest.ReadReferences(t, filepath.Join(dir, "ibsi1_digital_phantom_reference.csv"), "dig. phantom")
	if len(refs) != 482 {
		t.Fatalf("%d reference values for the digital phantom, want 482", len(refs))
	}
	feats, err := Compute(img, mask, MustPreset("ibsi-phantom"))
	if err != nil {
		t.Fatal(err)
	}
	match, total, misses := compareWithReferences(t, refs, feats)
	report(t, "IBSI digital phantom", match, total, misses)
	if len(misses) > 0 {
		t.Errorf("%d of %d reference values not reproduced (listed above)", len(misses), len(refs))
	}
}
