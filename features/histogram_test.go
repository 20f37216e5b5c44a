package features

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/histogram"
)

const (
	muW = 0.02 // water in 1/mm, about 60 keV
	// sumTol bounds the error of a sum of 64 float32 shares.
	sumTol = 1e-6
	// shareTol bounds the error of one float32 share.
	shareTol = 1e-7
)

var testIDs = IDs{StudyUID: "1.2.826.0.1.1", SeriesUID: "1.2.826.0.1.1.2", Bin: 3}

// mu returns the attenuation of hu Hounsfield units.
func mu(hu float64) float32 { return float32(muW * (1 + hu/1000)) }

// binOf is the documented binning, in float64.
func binOf(hu float64) int {
	b := int(math.Floor((hu - HistMinHU) / HistBinWidthHU))
	return min(max(b, 0), HistBins-1)
}

func newVolume(nx, ny, nz int) *fdk.Volume {
	return fdk.NewVolume(fdk.Grid{Dim: [3]int{nx, ny, nz}, Spacing: [3]float64{1, 1, 1}})
}

func fill(v *fdk.Volume, f func(x, y, z int) float32) {
	g := v.Grid.Dim
	for z := range g[2] {
		for y := range g[1] {
			for x := range g[0] {
				v.Data[x+g[0]*(y+g[1]*z)] = f(x, y, z)
			}
		}
	}
}

// checkShares compares a histogram with the expected share per bin (missing
// bins 0).
func checkShares(t *testing.T, v Vector, want map[int]float64) {
	t.Helper()
	if len(v.Values) != HistBins {
		t.Fatalf("%s: %d values, want %d", v.Key(), len(v.Values), HistBins)
	}
	for i, got := range v.Values {
		if math.Abs(float64(got)-want[i]) > shareTol {
			t.Errorf("%s: bin %d = %g, want %g", v.Key(), i, got, want[i])
		}
	}
}

func TestBinning(t *testing.T) {
	// The bins named in the doc comments, worked out by hand.
	for _, c := range []struct {
		hu  float64
		bin int
	}{{-5000, 0}, {-1000, 0}, {-953.2, 0}, {-953, 1}, {0, 21}, {40, 22}, {1000, 42}, {1999, 63}, {2000, 63}, {1e6, 63}} {
		if got := binOf(c.hu); got != c.bin {
			t.Errorf("binOf(%g) = %d, want %d", c.hu, got, c.bin)
		}
	}
	if HistBinWidthHU != 46.875 {
		t.Errorf("bin width %g HU, want 46.875", HistBinWidthHU)
	}
}

func TestHistogramConstant(t *testing.T) {
	for _, hu := range []float64{-3000, -990, -500, 0, 40, 1000, 1999, 5000} {
		vol := newVolume(5, 4, 3)
		fill(vol, func(x, y, z int) float32 { return mu(hu) })
		vs, err := Histograms(vol, muW, testIDs)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 1+3 {
			t.Fatalf("%g HU: %d vectors, want the volume and 3 slices", hu, len(vs))
		}
		for i, v := range vs {
			if v.Slice != i-1 || v.Kind != KindHistHU || v.StudyUID != testIDs.StudyUID || v.SeriesUID != testIDs.SeriesUID || v.Bin != testIDs.Bin {
				t.Errorf("%g HU: vector %d is %+v", hu, i, v)
			}
			checkShares(t, v, map[int]float64{binOf(hu): 1})
		}
	}
}

func TestHistogramInfinities(t *testing.T) {
	vol := newVolume(2, 1, 1)
	vol.Data[0], vol.Data[1] = float32(math.Inf(-1)), float32(math.Inf(1))
	vs, err := Histograms(vol, muW, testIDs)
	if err != nil {
		t.Fatal(err)
	}
	checkShares(t, vs[0], map[int]float64{0: 0.5, HistBins - 1: 0.5})
}

func TestHistogramTwoRegions(t *testing.T) {
	// Slice 0: x < 1 water, the rest bone (4 water, 12 bone voxels);
	// slice 1: all water (16).
	vol := newVolume(4, 4, 2)
	water, bone := binOf(0), binOf(1000)
	fill(vol, func(x, y, z int) float32 {
		if z == 0 && x >= 1 {
			return mu(1000)
		}
		return mu(0)
	})
	vs, err := Histograms(vol, muW, testIDs)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 {
		t.Fatalf("%d vectors, want 3", len(vs))
	}
	checkShares(t, vs[0], map[int]float64{water: 20.0 / 32, bone: 12.0 / 32})
	checkShares(t, vs[1], map[int]float64{water: 0.25, bone: 0.75})
	checkShares(t, vs[2], map[int]float64{water: 1})
}

func TestHistogramFOVZerosExcluded(t *testing.T) {
	// A cylinder of water inside a zeroed border, as fdk's FOV mask leaves
	// it, and two empty slices, one at each end.
	vol := newVolume(9, 9, 6)
	inside := 0
	fill(vol, func(x, y, z int) float32 {
		if z == 0 || z == 5 || (x-4)*(x-4)+(y-4)*(y-4) > 9 {
			return 0
		}
		inside++
		if x == 4 && y == 4 {
			return mu(-600) // one lung voxel per slice
		}
		return mu(0)
	})
	vs, err := Histograms(vol, muW, testIDs)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1+4 {
		t.Fatalf("%d vectors, want the volume and slices 1 to 4", len(vs))
	}
	perSlice := float64(inside / 4)
	for i, v := range vs {
		if want := []int{-1, 1, 2, 3, 4}[i]; v.Slice != want {
			t.Errorf("vector %d is slice %d, want %d", i, v.Slice, want)
		}
		checkShares(t, v, map[int]float64{binOf(0): (perSlice - 1) / perSlice, binOf(-600): 1 / perSlice})
	}

	clear(vol.Data)
	if _, err := Histograms(vol, muW, testIDs); !errors.Is(err, ErrEmpty) {
		t.Errorf("all-zero volume: err = %v, want ErrEmpty", err)
	}
}

// TestHistogramRandom checks normalisation and the binning on random
// volumes against a float64 transcription of the documented formula.
func TestHistogramRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dim := range [][3]int{{1, 1, 1}, {7, 5, 3}, {16, 16, 16}, {33, 1, 9}} {
		vol := newVolume(dim[0], dim[1], dim[2])
		for i := range vol.Data {
			if rng.IntN(5) == 0 {
				continue // outside the FOV
			}
			vol.Data[i] = mu(rng.Float64()*4000 - 1500)
		}
		vs, err := Histograms(vol, muW, testIDs)
		if err != nil {
			t.Fatal(err)
		}
		plane := dim[0] * dim[1]
		want := map[int][]float64{}
		add := func(slice int, m float32) {
			if want[slice] == nil {
				want[slice] = make([]float64, HistBins)
			}
			want[slice][binOf(1000*(float64(m)-muW)/muW)]++
		}
		for i, m := range vol.Data {
			if m != 0 {
				add(-1, m)
				add(i/plane, m)
			}
		}
		if len(vs) != len(want) {
			t.Fatalf("%v: %d vectors, want %d", dim, len(vs), len(want))
		}
		for _, v := range vs {
			var sum, n float64
			for i := range HistBins {
				sum += float64(v.Values[i])
				n += want[v.Slice][i]
			}
			if math.Abs(sum-1) > sumTol {
				t.Errorf("%v %s: values sum to %g", dim, v.Key(), sum)
			}
			for i := range HistBins {
				if w := want[v.Slice][i] / n; math.Abs(float64(v.Values[i])-w) > shareTol {
					t.Errorf("%v %s: bin %d = %g, want %g", dim, v.Key(), i, v.Values[i], w)
				}
			}
		}
	}
}

func TestHistogramErrors(t *testing.T) {
	good := newVolume(2, 2, 2)
	fill(good, func(x, y, z int) float32 { return mu(0) })
	nan := newVolume(2, 2, 2)
	fill(nan, func(x, y, z int) float32 { return mu(0) })
	nan.Data[1+2*(0+2*1)] = float32(math.NaN())
	short := newVolume(2, 2, 2)
	short.Data = short.Data[:7]
	for _, c := range []struct {
		name    string
		vol     *fdk.Volume
		muWater float64
		ids     IDs
		target  error
		says    string
	}{
		{"muWater 0", good, 0, testIDs, ErrInput, "muWater = 0"},
		{"muWater negative", good, -0.02, testIDs, ErrInput, "muWater"},
		{"muWater NaN", good, math.NaN(), testIDs, ErrInput, "muWater"},
		{"muWater Inf", good, math.Inf(1), testIDs, ErrInput, "muWater"},
		{"nil volume", nil, muW, testIDs, ErrInput, "nil"},
		{"short data", short, muW, testIDs, ErrInput, "7 voxels"},
		{"NaN voxel", nan, muW, testIDs, ErrInput, "voxel (1, 0, 1) is NaN"},
		{"no study", good, muW, IDs{SeriesUID: "1.2"}, ErrVector, "study_uid"},
		{"no series", good, muW, IDs{StudyUID: "1.2"}, ErrVector, "series_uid"},
		{"colon", good, muW, IDs{StudyUID: "1", SeriesUID: "1.2:3"}, ErrVector, "':'"},
		{"bin", good, muW, IDs{StudyUID: "1", SeriesUID: "1.2", Bin: -1}, ErrVector, "bin -1"},
	} {
		vs, err := Histograms(c.vol, c.muWater, c.ids)
		if !errors.Is(err, c.target) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: err = %v, want %v saying %q", c.name, err, c.target, c.says)
		}
		if vs != nil {
			t.Errorf("%s: returned %d vectors with the error", c.name, len(vs))
		}
	}
}

// TestHistogramValuesDisjoint checks that the vectors' values, which share
// one array, do not overlap.
func TestHistogramValuesDisjoint(t *testing.T) {
	vol := newVolume(3, 3, 3)
	fill(vol, func(x, y, z int) float32 { return mu(float64(100 * z)) })
	vs, err := Histograms(vol, muW, testIDs)
	if err != nil {
		t.Fatal(err)
	}
	vs[1].Values = append(vs[1].Values, 42)
	for i := range vs[2].Values {
		vs[1].Values[i] = -1
	}
	checkShares(t, vs[2], map[int]float64{binOf(100): 1})
	checkShares(t, vs[0], map[int]float64{binOf(0): 1.0 / 3, binOf(100): 1.0 / 3, binOf(200): 1.0 / 3})
}

// TestHistogramsOfLabelledCounts checks that HistogramsOf gives Histograms'
// vectors from counts split into objects (labels leave the volume's and
// slices' counts alone), and refuses counts of another binning.
func TestHistogramsOfLabelledCounts(t *testing.T) {
	vol := newVolume(4, 4, 2)
	fill(vol, func(x, y, z int) float32 { return mu(float64(300*x - 200*y + 100*z)) })
	labels := make([]int32, len(vol.Data))
	for i := range labels {
		labels[i] = int32(i % 3)
	}
	want, err := Histograms(vol, muW, testIDs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := histogram.Count(vol, muW, histogram.HU, histogram.Selection{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	got, err := HistogramsOf(c, testIDs)
	if err != nil || len(got) != len(want) {
		t.Fatalf("%d vectors, %v; want %d", len(got), err, len(want))
	}
	for i := range want {
		if got[i].Slice != want[i].Slice || !slices.Equal(got[i].Values, want[i].Values) {
			t.Errorf("vector %d: slice %d %v, want slice %d %v", i, got[i].Slice, got[i].Values, want[i].Slice, want[i].Values)
		}
	}
	other, err := histogram.Count(vol, muW, histogram.Binning{Bins: 8, MinHU: -1000, MaxHU: 1000}, histogram.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := HistogramsOf(other, testIDs); !errors.Is(err, ErrInput) {
		t.Errorf("counts of 8 bins: err = %v, want ErrInput", err)
	}
}
