package scanset

import (
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/ctrecon/ctrecon/bench/ann"
)

// One scan with an insert of each material, 45 views: each insert is found
// as an object of its own; iodine's signature peaks in the bin above its
// K-edge (33.2 keV, bin 1 from 33.5 keV), gadolinium's in the bin above
// its (50.2 keV, bin 2), hydroxyapatite's falls with energy and lipid's is
// negative; the HU histograms sum to 1; the set reads back as written; and
// Vectors labels every vector by material.
func TestScan(t *testing.T) {
	spec := DefaultSpec()
	spec.Scans, spec.Inserts, spec.Views = 1, 4, 45
	s := &Set{Spec: spec, Bins: len(spec.Thresholds)}
	inserts := []Insert{
		{Material: "iodine", Amount: 12, RadiusMM: 3, Center: [2]float64{7, 0}},
		{Material: "gadolinium", Amount: 12, RadiusMM: 3, Center: [2]float64{-7, 0}},
		{Material: "hydroxyapatite", Amount: 300, RadiusMM: 1.8, Center: [2]float64{0, 7}},
		{Material: "lipid", Amount: 0.9, RadiusMM: 1.8, Center: [2]float64{0, -7}},
	}
	if err := s.addScan(0, inserts); err != nil {
		t.Fatal(err)
	}
	if len(s.Objects) != len(inserts) || len(s.Missed) != 0 {
		t.Fatalf("%d objects found, %d inserts missed; want all %d found", len(s.Objects), len(s.Missed), len(inserts))
	}
	peak := map[string]int{"iodine": 1, "gadolinium": 2, "hydroxyapatite": 0}
	for _, o := range s.Objects {
		sig := o.Spectral
		t.Logf("%s: signature %.3f", o.Insert.Material, sig)
		if want, ok := peak[o.Insert.Material]; ok {
			top := slices.Index(sig, slices.Max(sig))
			if top != want {
				t.Errorf("%s: signature %v peaks in bin %d, want %d", o.Insert.Material, sig, top, want)
			}
		}
		for b := 1; b < len(sig) && o.Insert.Material == "hydroxyapatite"; b++ {
			if !(sig[b] < sig[b-1]) {
				t.Errorf("hydroxyapatite: signature %v does not fall from bin %d to %d", sig, b-1, b)
			}
		}
		if o.Insert.Material == "lipid" && slices.Max(sig) >= 0 {
			t.Errorf("lipid: signature %v, want below water in every bin", sig)
		}
		for b := range s.Bins {
			var sum float64
			for _, v := range o.HU[b] {
				sum += float64(v)
			}
			if math.Abs(sum-1) > 1e-5 || len(o.Radiomics[b]) != len(s.RadiomicsNames) || o.Metric[b].Validate() != nil {
				t.Errorf("%s, bin %d: HU histogram sums to %g, %d radiomics for %d names, metric histogram %v",
					o.Insert.Material, b, sum, len(o.Radiomics[b]), len(s.RadiomicsNames), o.Metric[b].Validate())
			}
		}
	}

	path := filepath.Join(t.TempDir(), "set.json.gz")
	if err := write(path, s); err != nil {
		t.Fatal(err)
	}
	back, err := read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Error("the set read back differs from the one written")
	}
	for _, kind := range Kinds {
		v, bins, err := s.Vectors(kind)
		if err != nil {
			t.Fatal(err)
		}
		checkVectors(t, kind, v, bins, s)
	}
}

func checkVectors(t *testing.T, kind string, v *ann.Set, bins []string, s *Set) {
	t.Helper()
	rows := len(s.Objects) * s.Bins
	if kind == KindSpectral {
		rows = len(s.Objects)
	}
	if v.Len() != rows || len(v.Labels) != rows || (bins != nil) == (kind == KindSpectral) {
		t.Errorf("%s: %d vectors, %d labels, %d bins; want %d vectors", kind, v.Len(), len(v.Labels), len(bins), rows)
		return
	}
	if v.Labels[0] != s.Objects[0].Insert.Material {
		t.Errorf("%s: first label %q, want %q", kind, v.Labels[0], s.Objects[0].Insert.Material)
	}
}

func TestCachePath(t *testing.T) {
	a, b := DefaultSpec(), DefaultSpec()
	b.Views++
	if CachePath("d", a) == CachePath("d", b) || CachePath("d", a) != CachePath("d", DefaultSpec()) {
		t.Error("the cache file's name does not follow the spec")
	}
}
