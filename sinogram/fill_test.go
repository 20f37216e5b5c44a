package sinogram

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// Linear interpolation reproduces a plane exactly across gap columns, gap
// rows, scattered bad pixels and their crossings; pixels at a row's end with
// no neighbour beyond take the nearest value.
func TestFillInvalid(t *testing.T) {
	const cols, rows = 40, 30
	plane := func(c, r int) float32 { return float32(0.5 + 0.01*float64(c) - 0.02*float64(r)) }
	img := make([]float32, cols*rows)
	valid := make([]bool, cols*rows)
	for r := range rows {
		for c := range cols {
			img[r*cols+c] = plane(c, r)
			valid[r*cols+c] = true
		}
	}
	holes := func(c, r int) bool {
		scattered := (c*7+r*3)%23 == 0 && c > 0 && r > 0 // not the corner: see below
		return c == 12 || c == 13 || r == 9 || r == 10 || r == 11 || scattered || (c == 0 && r == 4) || (c == 39 && r == 20)
	}
	for r := range rows {
		for c := range cols {
			if holes(c, r) {
				img[r*cols+c], valid[r*cols+c] = -99, false
			}
		}
	}
	if err := fillInvalid(img, valid, cols, rows); err != nil {
		t.Fatal(err)
	}
	for r := range rows {
		for c := range cols {
			if got, want := img[r*cols+c], plane(c, r); math.Abs(float64(got-want)) > 1e-5 {
				t.Errorf("pixel (%d, %d): %g, want %g", c, r, got, want)
			}
		}
	}
	// A whole column missing at the edge: nearest value along the row.
	img = []float32{9, 1, 2, 9, 3, 4}
	valid = []bool{false, true, true, false, true, true}
	if err := fillInvalid(img, valid, 3, 2); err != nil || img[0] != 1 || img[3] != 3 {
		t.Errorf("edge column filled as %v, %v", img, err)
	}
	if err := fillInvalid(make([]float32, 4), make([]bool, 4), 2, 2); err == nil {
		t.Error("an image with no valid pixel filled")
	}
}

func TestTemplates(t *testing.T) {
	tm, err := parseTemplate("b{bin}/v{view:4}_c{cam:2}_{index}.raw")
	if err != nil {
		t.Fatal(err)
	}
	if got := tm.format(map[string]int{"view": 7, "bin": 3, "cam": 1, "index": 12}); got != "b3/v0007_c01_12.raw" {
		t.Errorf("formatted %q", got)
	}
	for _, bad := range []string{"", "v{view", "v}{view}", "{view:0}", "{view:x}", "{angle}", "/abs/{view}", "a/../{view}", `a\{view}`, "a//{view}"} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("template %q accepted", bad)
		} else if !strings.Contains(err.Error(), strconv.Quote(bad)) && bad != "" {
			t.Errorf("template %q: error %q does not quote it", bad, err)
		}
	}
}
