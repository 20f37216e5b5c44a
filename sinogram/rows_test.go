package sinogram_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/sinogram"
)

// ProjectionRows reads exactly the rows Projection has there, for bands at
// the top, in the middle and at the bottom; a band off the image and a
// file cut short since the folder was opened are errors naming the file.
func TestProjectionRows(t *testing.T) {
	g, _, dir := writeSpheres(t, 3)
	f, err := sinogram.OpenPlastimatch(dir)
	if err != nil {
		t.Fatal(err)
	}
	for v := range 3 {
		whole, err := f.Projection(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []fdk.RowBand{{First: 0, Count: 5}, {First: 31, Count: 17}, {First: 78, Count: 2}, {First: 0, Count: g.Rows}} {
			got, err := f.ProjectionRows(v, b)
			if err != nil {
				t.Fatal(err)
			}
			want := whole[b.First*g.Cols : b.End()*g.Cols]
			if !slices.EqualFunc(got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
				t.Errorf("view %d %v: not the rows of the whole image", v, b)
			}
		}
	}
	for _, b := range []fdk.RowBand{{First: -1, Count: 3}, {First: 79, Count: 2}, {First: 4, Count: 0}} {
		if _, err := f.ProjectionRows(0, b); err == nil {
			t.Errorf("%v of %d rows: no error", b, g.Rows)
		}
	}
	name := filepath.Join(dir, "img0001.pfm")
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, fi.Size()-4); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ProjectionRows(1, fdk.RowBand{First: 0, Count: 2}); !errors.Is(err, sinogram.ErrFormat) {
		t.Errorf("a file cut short: %v, want ErrFormat naming it", err)
	}
}
