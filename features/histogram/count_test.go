package histogram

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

const muW = 0.02 // water in 1/mm, about 60 keV

// mu returns the attenuation of hu Hounsfield units.
func mu(hu float64) float32 { return float32(muW * (1 + hu/1000)) }

// binOf is Binning's documented rule in float64.
func binOf(b Binning, hu float64) int {
	i := int(math.Floor((hu - b.MinHU) / b.Width()))
	return min(max(i, 0), b.Bins-1)
}

func newVolume(nx, ny, nz int) *fdk.Volume {
	return fdk.NewVolume(fdk.Grid{Dim: [3]int{nx, ny, nz}, Spacing: [3]float64{1, 1, 1}})
}

func TestBinningHU(t *testing.T) {
	if w := HU.Width(); w != 46.875 {
		t.Errorf("HU bin width %g, want 46.875", w)
	}
	// The bins named in features' doc comments, worked out by hand.
	for _, c := range []struct {
		hu  float64
		bin int
	}{{-5000, 0}, {-1000, 0}, {-953.2, 0}, {-953, 1}, {0, 21}, {40, 22}, {1000, 42}, {1999, 63}, {2000, 63}} {
		if got := binOf(HU, c.hu); got != c.bin {
			t.Errorf("binOf(%g) = %d, want %d", c.hu, got, c.bin)
		}
	}
	if c := HU.Center(21); c != 7.8125 {
		t.Errorf("centre of bin 21 = %g HU, want -1000 + 21.5·46.875 = 7.8125", c)
	}
}

// TestCountSelection counts random volumes with and without a mask and a
// label image and compares every histogram with a float64 transcription of
// the documented rules.
func TestCountSelection(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	b := Binning{Bins: 17, MinHU: -900, MaxHU: 1500}
	for _, dim := range [][3]int{{1, 1, 1}, {7, 5, 3}, {16, 16, 16}, {33, 1, 9}} {
		vol := newVolume(dim[0], dim[1], dim[2])
		n := len(vol.Data)
		mask, labels := make([]bool, n), make([]int32, n)
		for i := range vol.Data {
			if rng.IntN(5) > 0 { // else outside the FOV
				vol.Data[i] = mu(rng.Float64()*4000 - 1500)
			}
			mask[i] = rng.IntN(4) > 0
			labels[i] = int32(rng.IntN(4)) // 0 background, objects 1 to 3
		}
		for _, sel := range []Selection{{}, {Mask: mask}, {Labels: labels}, {Mask: mask, Labels: labels}} {
			c, err := Count(vol, muW, b, sel)
			if err != nil {
				t.Fatal(err)
			}
			want := bruteCount(vol, b, sel)
			name := func(what string) string {
				return strings.Join([]string{what, map[bool]string{true: "masked", false: "all"}[sel.Mask != nil],
					map[bool]string{true: "labelled", false: "unlabelled"}[sel.Labels != nil]}, " ")
			}
			checkHistogram(t, name("volume"), c.Volume, want[-1])
			for z := range c.Slices {
				checkHistogram(t, name("slice"), c.Slices[z], want[z])
			}
			wantObjects := 0
			for l := int32(1); l <= 3; l++ {
				if want[-1-int(l)].N > 0 {
					wantObjects++
				}
			}
			if len(c.Objects) != wantObjects {
				t.Fatalf("%v %s: %d objects, want %d", dim, name(""), len(c.Objects), wantObjects)
			}
			for k, o := range c.Objects {
				if k > 0 && o.Label <= c.Objects[k-1].Label {
					t.Errorf("objects not in label order: %d after %d", o.Label, c.Objects[k-1].Label)
				}
				checkHistogram(t, name("object"), o.Histogram, want[-1-int(o.Label)])
			}
		}
	}
}

// bruteCount counts one voxel at a time: key -1 is the volume, z ≥ 0 a slice,
// -1-label an object.
func bruteCount(vol *fdk.Volume, b Binning, sel Selection) map[int]Histogram {
	out := map[int]Histogram{}
	add := func(key, bin int) {
		h := out[key]
		if h.Counts == nil {
			h.Counts = make([]int64, b.Bins)
		}
		h.Counts[bin]++
		h.N++
		out[key] = h
	}
	plane := vol.Grid.Dim[0] * vol.Grid.Dim[1]
	for i, m := range vol.Data {
		if m == 0 || (sel.Mask != nil && !sel.Mask[i]) {
			continue
		}
		bin := binOf(b, 1000*(float64(m)-muW)/muW)
		add(-1, bin)
		add(i/plane, bin)
		if sel.Labels != nil && sel.Labels[i] > 0 {
			add(-1-int(sel.Labels[i]), bin)
		}
	}
	return out
}

func checkHistogram(t *testing.T, what string, got, want Histogram) {
	t.Helper()
	if got.N != want.N {
		t.Errorf("%s: N = %d, want %d", what, got.N, want.N)
		return
	}
	if want.N == 0 {
		return
	}
	for i := range got.Counts {
		if got.Counts[i] != want.Counts[i] {
			t.Errorf("%s: bin %d = %d, want %d", what, i, got.Counts[i], want.Counts[i])
		}
	}
}

func TestCountErrors(t *testing.T) {
	good := newVolume(2, 2, 2)
	for i := range good.Data {
		good.Data[i] = mu(0)
	}
	nan := newVolume(2, 2, 2)
	copy(nan.Data, good.Data)
	nan.Data[1+2*(0+2*1)] = float32(math.NaN())
	badLabels := make([]int32, 8)
	badLabels[1+2*(1+2*1)] = -3
	for _, c := range []struct {
		name    string
		vol     *fdk.Volume
		muWater float64
		b       Binning
		sel     Selection
		says    string
	}{
		{"no bins", good, muW, Binning{MinHU: 0, MaxHU: 1}, Selection{}, "0 bins"},
		{"empty range", good, muW, Binning{Bins: 4, MinHU: 1, MaxHU: 1}, Selection{}, "empty"},
		{"infinite range", good, muW, Binning{Bins: 4, MinHU: 1, MaxHU: math.Inf(1)}, Selection{}, "not finite"},
		{"muWater", good, 0, HU, Selection{}, "muWater = 0"},
		{"nil volume", nil, muW, HU, Selection{}, "nil"},
		{"NaN voxel", nan, muW, HU, Selection{}, "voxel (1, 0, 1) is NaN"},
		{"short mask", good, muW, HU, Selection{Mask: make([]bool, 7)}, "mask has 7 entries"},
		{"short labels", good, muW, HU, Selection{Labels: make([]int32, 9)}, "label image has 9 entries"},
		{"negative label", good, muW, HU, Selection{Labels: badLabels}, "voxel (1, 1, 1) has label -3"},
	} {
		got, err := Count(c.vol, c.muWater, c.b, c.sel)
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: err = %v, want ErrInput saying %q", c.name, err, c.says)
		}
		if got != nil {
			t.Errorf("%s: returned counts with the error", c.name)
		}
	}
	// A NaN voxel the mask leaves out is not counted, so not an error.
	mask := make([]bool, 8)
	for i := range mask {
		mask[i] = i != 1+2*(0+2*1)
	}
	if _, err := Count(nan, muW, HU, Selection{Mask: mask}); err != nil {
		t.Errorf("NaN voxel masked out: %v", err)
	}
}
