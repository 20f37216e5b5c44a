package radiomics

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// cube returns an image of n³ voxels of the given spacing filled by
// value(i, j, k), and a mask of the voxels in(i, j, k).
func cube(n int, spacing float64, value func(i, j, k int) float64, in func(i, j, k int) bool) (*Image, *Mask) {
	g := Grid{Size: [3]int{n, n, n}, Spacing: [3]float64{spacing, spacing, spacing}}
	img := &Image{Grid: g, Data: make([]float64, g.Voxels())}
	mask := &Mask{Grid: g, Data: make([]bool, g.Voxels())}
	for k := range n {
		for j := range n {
			for i := range n {
				img.Data[g.index(i, j, k)] = value(i, j, k)
				mask.Data[g.index(i, j, k)] = in(i, j, k)
			}
		}
	}
	return img, mask
}

// byTag indexes features by tag and aggregation.
func byTag(feats []Feature) map[string]float64 {
	out := map[string]float64{}
	for _, f := range feats {
		out[f.Tag+"|"+f.Aggregation] = f.Value
	}
	return out
}

// TestBadInputErrors checks that input Compute cannot use is refused with
// an error that wraps ErrInput and says what is wrong.
func TestBadInputErrors(t *testing.T) {
	ramp := func(i, j, k int) float64 { return float64(i + 2*j + 3*k) }
	all := func(i, j, k int) bool { return true }
	centre := func(i, j, k int) bool { return i > 1 && i < 6 && j > 1 && j < 6 && k > 1 && k < 6 }
	phantom := MustPreset("ibsi-phantom")
	for _, c := range []struct {
		name string
		make func() (*Image, *Mask, Settings)
		want string
	}{
		{"empty mask", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, func(i, j, k int) bool { return false })
			return img, mask, phantom
		}, "mask is empty"},
		{"mask on another grid", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, centre)
			mask.Spacing[2] = 2
			return img, mask, phantom
		}, "is not the image's"},
		{"mask of another size", func() (*Image, *Mask, Settings) {
			img, _ := cube(8, 1, ramp, centre)
			_, mask := cube(7, 1, ramp, centre)
			return img, mask, phantom
		}, "is not the image's"},
		{"mask data shorter than its grid", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, centre)
			mask.Data = mask.Data[:10]
			return img, mask, phantom
		}, "mask: 10 values"},
		{"NaN voxel", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, centre)
			img.Data[img.index(3, 4, 5)] = math.NaN()
			return img, mask, phantom
		}, "voxel (3, 4, 5) is NaN"},
		{"infinite voxel outside the mask", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, centre)
			img.Data[0] = math.Inf(1)
			return img, mask, phantom
		}, "voxel (0, 0, 0) is +Inf"},
		{"zero spacing", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 0, ramp, centre)
			return img, mask, phantom
		}, "spacing"},
		{"nil mask", func() (*Image, *Mask, Settings) {
			img, _ := cube(8, 1, ramp, centre)
			return img, nil, phantom
		}, "no image or no mask"},
		{"re-segmentation leaves nothing", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, func(i, j, k int) float64 { return 1000 + ramp(i, j, k) }, centre)
			return img, mask, MustPreset("ibsi-a")
		}, "no voxel of the ROI is left after re-segmentation to [-500, 400]"},
		{"interpolation loses a one-voxel ROI", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, func(i, j, k int) bool { return i == 3 && j == 3 && k == 3 })
			s := MustPreset("ibsi-c")
			s.Resegmentation = Resegmentation{}
			s.Interpolation.Spacing = [3]float64{3, 3, 3}
			return img, mask, s
		}, "no voxel of the ROI is left after interpolating the mask"},
		{"fixed bin size above the ROI", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, all)
			s := MustPreset("ibsi-phantom")
			s.Discretisation.Min = ptr(5)
			return img, mask, s
		}, "fixed bin size starts at 5, above the ROI's lowest intensity 0"},
		{"unknown interpolation", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, all)
			s := MustPreset("ibsi-c")
			s.Interpolation.Method = "sinc"
			return img, mask, s
		}, `interpolation.method: "sinc"`},
		{"unknown family", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, all)
			s := MustPreset("ibsi-c")
			s.Families = []string{"glcm"}
			return img, mask, s
		}, `families: "glcm"`},
		{"no bins", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, all)
			s := MustPreset("ibsi-d")
			s.Discretisation.Bins = 0
			return img, mask, s
		}, "discretisation.bins: 0"},
		{"range upside down", func() (*Image, *Mask, Settings) {
			img, mask := cube(8, 1, ramp, all)
			s := MustPreset("ibsi-a")
			s.Resegmentation.Min, s.Resegmentation.Max = ptr(10), ptr(0)
			return img, mask, s
		}, "min 10 is above max 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, mask, s := c.make()
			feats, err := Compute(img, mask, s)
			if err == nil {
				t.Fatalf("no error; %d features", len(feats))
			}
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want one wrapping ErrInput that says %q", err, c.want)
			}
			if empty := strings.Contains(c.want, "no voxel of the ROI"); errors.Is(err, ErrEmptyROI) != empty {
				t.Fatalf("error %q: errors.Is(err, ErrEmptyROI) is %v, want %v", err, !empty, empty)
			}
		})
	}
}

// TestConstantImage checks a ROI of one intensity: IBSI's values where it
// defines them for that case (skewness and kurtosis 0, NGTDM coarseness
// 10⁶, contrast, busyness and strength 0), NaN where a feature divides by
// a spread of zero, and every other value finite.
func TestConstantImage(t *testing.T) {
	img, mask := cube(8, 1, func(i, j, k int) float64 { return 40 }, func(i, j, k int) bool { return i > 0 && j > 0 && k > 0 })
	for _, preset := range []string{"ibsi-phantom", "ibsi-d"} {
		t.Run(preset, func(t *testing.T) {
			feats, err := Compute(img, mask, MustPreset(preset))
			if err != nil {
				t.Fatal(err)
			}
			v := byTag(feats)
			want := map[string]float64{
				"stat.var|": 0, "stat.skew|": 0, "stat.kurt|": 0, "stat.range|": 0, "ih.entropy|": 0, "ih.uniformity|": 1,
				"ngt.coarseness|3D": 1e6, "ngt.contrast|3D": 0, "ngt.busyness|3D": 0, "ngt.strength|3D": 0,
				"cm.joint.max|3D, merged": 1, "cm.contrast|3D, averaged": 0, "szm.zs.var|3D": 0,
				"ivh.v10|": 0, "ivh.i10|": 41,
			}
			if preset == "ibsi-phantom" {
				want["szm.z.perc|3D"] = 1.0 / 343 // one zone of 7³ voxels
			}
			for k, w := range want {
				if got, ok := v[k]; !ok || got != w {
					t.Errorf("%s = %v, want %v", k, got, w)
				}
			}
			undefined := map[string]bool{
				// A single grey level: no spread to divide by.
				"cm.corr|3D, averaged": true, "cm.corr|3D, merged": true, "cm.info.corr.1|3D, averaged": true, "cm.info.corr.1|3D, merged": true,
				"cm.corr|2D, averaged": true, "cm.corr|2D, slice-merged": true, "cm.corr|2.5D, direction-merged": true, "cm.corr|2.5D, merged": true,
				"cm.info.corr.1|2D, averaged": true, "cm.info.corr.1|2D, slice-merged": true, "cm.info.corr.1|2.5D, direction-merged": true, "cm.info.corr.1|2.5D, merged": true,
				"morph.moran.i|": true, "morph.geary.c|": true,
			}
			for _, f := range feats {
				key := f.Tag + "|" + f.Aggregation
				if undefined[key] != math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
					t.Errorf("%s = %v", key, f.Value)
				}
			}
		})
	}
}

// TestSingleVoxel checks a ROI of one voxel: its marching cubes surface is
// the octahedron through its faces' centres (volume s³/6, area √3·s²), and
// features that need pairs of voxels are NaN, not a crash.
func TestSingleVoxel(t *testing.T) {
	const s = 2.0
	img, mask := cube(5, s, func(i, j, k int) float64 { return float64(i*j + k) }, func(i, j, k int) bool { return i == 2 && j == 2 && k == 2 })
	feats, err := Compute(img, mask, MustPreset("ibsi-phantom"))
	if err != nil {
		t.Fatal(err)
	}
	v := byTag(feats)
	for k, want := range map[string]float64{
		"morph.vol|": s * s * s / 6, "morph.area|": math.Sqrt(3) * s * s, "morph.approx.vol|": s * s * s,
		"morph.diam|": s, "morph.v.dens.conv.hull|": 1, "stat.mean|": 6, "szm.sze|3D": 1, "rlm.sre|3D, merged": 1, "ngl.lde|3D": 1,
	} {
		if got := v[k]; math.Abs(got-want) > 1e-9*want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	for _, k := range []string{"cm.joint.max|3D, merged", "ngt.coarseness|3D", "morph.moran.i|", "morph.pca.major|"} {
		if !math.IsNaN(v[k]) {
			t.Errorf("%s = %v, want NaN (no pairs of voxels)", k, v[k])
		}
	}
}
