package histogram

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestMetricHistogramsRegions builds a volume of two materials in two
// objects and checks every metric histogram against the reduction of the
// histogram counted by hand.
func TestMetricHistogramsRegions(t *testing.T) {
	// 4x4x3: slice 0 all water, slice 1 half water (x < 2) and half bone,
	// slice 2 outside the FOV. Label 1 is the water of slices 0 and 1,
	// label 2 the bone.
	vol := newVolume(4, 4, 3)
	labels := make([]int32, len(vol.Data))
	water, bone := binOf(HU, 0), binOf(HU, 1000)
	for i := range 32 {
		if i >= 16 && i%4 >= 2 {
			vol.Data[i], labels[i] = mu(1000), 2
		} else {
			vol.Data[i], labels[i] = mu(0), 1
		}
	}
	s := DefaultSettings()
	got, err := MetricHistograms(vol, muW, Selection{Labels: labels}, s)
	if err != nil {
		t.Fatal(err)
	}
	reduce := func(counts map[int]int64) Metric {
		h := Histogram{Counts: make([]int64, HUBins)}
		for b, k := range counts {
			h.Counts[b], h.N = k, h.N+k
		}
		m, err := Reduce(&h, s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	check := func(what string, got, want Metric) {
		t.Helper()
		if !slices.Equal(got.Points, want.Points) || got.Error != want.Error {
			t.Errorf("%s: %v, want %v", what, got.Points, want.Points)
		}
	}
	check("volume", got.Volume, reduce(map[int]int64{water: 24, bone: 8}))
	if len(got.Slices) != 2 || got.Slices[0].Z != 0 || got.Slices[1].Z != 1 {
		t.Fatalf("slices %+v, want 0 and 1", got.Slices)
	}
	check("slice 0", got.Slices[0].Metric, reduce(map[int]int64{water: 16}))
	check("slice 1", got.Slices[1].Metric, reduce(map[int]int64{water: 8, bone: 8}))
	if len(got.Objects) != 2 || got.Objects[0].Label != 1 || got.Objects[1].Label != 2 {
		t.Fatalf("objects %+v, want labels 1 and 2", got.Objects)
	}
	check("object 1", got.Objects[0].Metric, reduce(map[int]int64{water: 24}))
	check("object 2", got.Objects[1].Metric, reduce(map[int]int64{bone: 8}))
	if got.Settings != s || got.Volume.Kind() != KindMetric {
		t.Errorf("settings %+v kind %s", got.Settings, got.Volume.Kind())
	}
	// Water alone and bone alone share no HU: DM is the largest, 2.
	if d := DM(&got.Objects[0].Metric, &got.Objects[1].Metric); d < 2-1e-12 || d > 2+1e-12 {
		t.Errorf("DM(water, bone) = %g, want 2", d)
	}
}

func TestMetricHistogramsErrors(t *testing.T) {
	vol := newVolume(2, 2, 1)
	if _, err := MetricHistograms(vol, muW, Selection{}, DefaultSettings()); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty volume: err = %v, want ErrEmpty", err)
	}
	vol.Data[0] = mu(0)
	if _, err := MetricHistograms(vol, muW, Selection{Mask: make([]bool, 4)}, DefaultSettings()); !errors.Is(err, ErrEmpty) {
		t.Errorf("everything masked out: err = %v, want ErrEmpty", err)
	}
	bad := DefaultSettings()
	bad.MaxBuckets = 0
	if _, err := MetricHistograms(nil, muW, Selection{}, bad); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "max_buckets") {
		t.Errorf("bad settings before a nil volume: err = %v, want the settings named", err)
	}
}

// TestMetricsOfOtherBinning checks that MetricsOf refuses counts of
// another binning than the settings', naming both.
func TestMetricsOfOtherBinning(t *testing.T) {
	vol := newVolume(2, 2, 1)
	vol.Data[0] = mu(0)
	c, err := Count(vol, muW, Binning{Bins: 16, MinHU: -1000, MaxHU: 1000}, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MetricsOf(c, DefaultSettings()); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "binning") {
		t.Errorf("counts of 16 bins, settings of %d: err = %v, want ErrInput naming the binning", HUBins, err)
	}
}

// TestSettingsHash checks that the hash is stable across calls and changes
// with every setting.
func TestSettingsHash(t *testing.T) {
	base := DefaultSettings()
	h := base.Hash()
	if len(h) != 16 || base.Hash() != h {
		t.Fatalf("hash %q", h)
	}
	changed := []Settings{base, base, base, base, base}
	changed[0].Binning.Bins++
	changed[1].Binning.MinHU--
	changed[2].Binning.MaxHU++
	changed[3].Tolerance *= 2
	changed[4].MaxBuckets++
	for i, s := range changed {
		if s.Hash() == h {
			t.Errorf("change %d: %+v hashes like the defaults", i, s)
		}
	}
}
