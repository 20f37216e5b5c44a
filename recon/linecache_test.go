package recon

import (
	"os"
	"slices"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// The line integrals cache gives back each view's and bin's rows as they
// were put, whatever order the views came in, and leaves nothing behind.
func TestLineCache(t *testing.T) {
	dir := t.TempDir()
	g := &fdk.Geometry{Detector: fdk.Detector{Cols: 5, Rows: 4}}
	c, err := newLineCache(dir, g, 2)
	if err != nil {
		t.Fatal(err)
	}
	image := func(v, bin int) []float32 {
		img := make([]float32, 5*4)
		for k := range img {
			img[k] = float32(v*100+bin*1000+k) / 3
		}
		return img
	}
	for _, v := range []int{2, 0, 1} {
		if err := c.put(v, [][]float32{image(v, 0), image(v, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	rows := fdk.RowBand{First: 1, Count: 2}
	for v := range 3 {
		got, err := c.band(v, rows)
		if err != nil {
			t.Fatal(err)
		}
		for bin, img := range got {
			if want := fdk.CropRows(image(v, bin), 5, rows); !slices.Equal(img, want) {
				t.Errorf("view %d bin %d: %v, want %v", v, bin, img, want)
			}
		}
	}
	if _, err := c.band(3, rows); err == nil {
		t.Error("a view never put read back")
	}
	c.remove()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the cache left %v", left)
	}
}
