package spectral

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/segment"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// scan is a simulated MARS scan reconstructed in every bin.
type scan struct {
	manifest *sinogram.Scan
	bins     []segment.Bin
	inserts  map[string]fdk.Vec3 // material: centre of its insert
}

// simulate writes spec's scan, preprocesses it and reconstructs every bin
// on 64x64x8 voxels of 0.6 mm with a Hann window cut at a quarter of
// Nyquist (as sinogram's TestSpectralScan: at 90 views the noise of a bin
// is then about 40 HU per voxel). inserts name the phantom's regions by
// material.
func simulate(t *testing.T, spec scansim.Spec, inserts map[string]string) scan {
	t.Helper()
	dir := t.TempDir()
	if err := scansim.Simulate(dir, spec); err != nil {
		t.Fatal(err)
	}
	m, err := sinogram.ReadScan(dir)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := sinogram.NewPreprocessor(m, sinogram.PreprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	grid := fdk.CenteredGrid([3]int{64, 64, 8}, [3]float64{0.6, 0.6, 0.6}, fdk.Vec3{})
	rec, err := fdk.New(&m.Geometry, grid, len(m.Bins), fdk.Options{Window: fdk.Hann, Cutoff: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	for v := range m.Views {
		imgs, _, err := pp.View(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Add(v, imgs); err != nil {
			t.Fatal(err)
		}
	}
	vols, err := rec.Finish()
	if err != nil {
		t.Fatal(err)
	}
	s := scan{manifest: m, inserts: map[string]fdk.Vec3{}}
	for b, bin := range m.Bins {
		s.bins = append(s.bins, segment.Bin{Index: b, LowKeV: bin.LowKeV, HighKeV: bin.HighKeV, MuWater: bin.MuWater, Volume: vols[b]})
	}
	for _, r := range spec.Phantom {
		if material, ok := inserts[r.Name]; ok {
			s.inserts[material] = r.Shape.Center
		}
	}
	return s
}

// secondPhantom is the default phantom with other concentrations (iodine
// 20 mg/ml, gadolinium 6, hydroxyapatite 200) and the inserts moved round
// by a quarter turn.
func secondPhantom() []scansim.Region {
	p := scansim.SpectralPhantom(30)
	scale := map[int]float64{1: 2, 2: 0.6, 3: 0.5}
	for i, k := range scale {
		for c := range p[i].Components {
			p[i].Components[c].Density *= k
		}
	}
	last := p[4].Shape
	for i := 4; i > 1; i-- {
		p[i].Shape = p[i-1].Shape
	}
	p[1].Shape = last
	return p
}

// The materials of the default phantom's regions, by name.
var defaultInserts = map[string]string{"water": "water", "iodine 10 mg/ml": "iodine", "gadolinium 10 mg/ml": "gadolinium",
	"hydroxyapatite 400 mg/ml": "hydroxyapatite", "lipid": "lipid"}

// objectAt returns the signature and object of the object that holds the
// voxel nearest c on the middle slice, or fails.
func objectAt(t *testing.T, seg *segment.Segmentation, sigs *Signatures, c fdk.Vec3) (Signature, segment.Object) {
	t.Helper()
	g := seg.Grid
	var idx [3]int
	for k := range 2 {
		idx[k] = int(math.Round((c[k] - g.Origin[k]) / g.Spacing[k]))
	}
	idx[2] = g.Dim[2] / 2
	m := seg.Map[idx[0]+g.Dim[0]*(idx[1]+g.Dim[1]*idx[2])]
	if m == 0 {
		t.Fatalf("the voxel at %v mm is in no object", c)
	}
	return sigs.Signatures[m-1], seg.Objects[m-1]
}

// On two simulated MARS scans (different seeds, concentrations and
// arrangement), the automatic objects are the phantom's inserts with their
// classes; iodine and gadolinium jump in the bin above their K-edges as
// the manifest's thresholds place them; and each insert's signature is
// nearer the same material in the other scan than any other material.
func TestSimulatedScans(t *testing.T) {
	spec := scansim.DefaultSpec()
	spec.Views = 90
	first := simulate(t, spec, defaultInserts)
	spec.Seed, spec.ScanID = 2, "SIM-0002"
	spec.Phantom = secondPhantom()
	second := simulate(t, spec, defaultInserts)

	classes := map[string]segment.Class{"water": segment.Water, "iodine": segment.Contrast, "gadolinium": segment.Contrast,
		"hydroxyapatite": segment.Bone, "lipid": segment.Lipid}
	materials := []string{"water", "iodine", "gadolinium", "hydroxyapatite", "lipid"}
	sigs := make([]map[string]Signature, 2)
	for i, s := range []scan{first, second} {
		seg, err := segment.Auto(s.bins, segment.DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		res, err := Compute(seg, s.bins, DefaultSettings())
		if err != nil {
			t.Fatal(err)
		}
		sigs[i] = map[string]Signature{}
		for _, name := range materials {
			c := s.inserts[name]
			sig, obj := objectAt(t, seg, res, c)
			var hu []string
			for _, b := range sig.Bins {
				hu = append(hu, fmt.Sprintf("%.0f±%.0f", b.MeanHU, b.SDHU))
			}
			off := math.Hypot(obj.CentroidMM[0]-c[0], obj.CentroidMM[1]-c[1])
			t.Logf("scan %d %-14s object %d %-8s %7.1f mm³, centroid %.2f mm off: HU %s, signature %.3f", i+1, name, obj.Label, obj.Class, obj.VolumeMM3, off, strings.Join(hu, " "), sig.Vector)
			if obj.Class != classes[name] {
				t.Errorf("scan %d: the %s insert is %q, want %q", i+1, name, obj.Class, classes[name])
			}
			// An insert is a cylinder of radius 3 mm through the 4.8 mm of
			// the grid: 136 mm³ (measured 130 to 152: partial volume).
			if want := math.Pi * 9 * 4.8; name != "water" && (off > 0.5 || math.Abs(obj.VolumeMM3-want) > 0.2*want) {
				t.Errorf("scan %d: the %s object is %.1f mm³ (want %.0f ± 20 %%), its centroid %.2f mm off the insert's axis (want under 0.5)", i+1, name, obj.VolumeMM3, want, off)
			}
			sigs[i][name] = sig
		}
		checkKEdge(t, s.manifest, sigs[i]["iodine"], scansim.IodineKEdge, "iodine")
		checkKEdge(t, s.manifest, sigs[i]["gadolinium"], scansim.GadoliniumKEdge, "gadolinium")
		ha := sigs[i]["hydroxyapatite"].Bins
		for b := 1; b < len(ha); b++ {
			if !(ha[b].MeanHU < ha[b-1].MeanHU) {
				t.Errorf("scan %d: hydroxyapatite rises from bin %d to %d (%.0f to %.0f HU): no K-edge in range", i+1, b-1, b, ha[b-1].MeanHU, ha[b].MeanHU)
			}
		}
	}
	for i, j := range []int{1, 0} {
		for _, a := range materials {
			same := Distance(sigs[i][a].Vector, sigs[j][a].Vector)
			other, nearest := math.Inf(1), ""
			for _, b := range materials {
				if d := Distance(sigs[i][a].Vector, sigs[j][b].Vector); b != a && d < other {
					other, nearest = d, b
				}
			}
			t.Logf("scan %d's %s: %.4f from scan %d's, %.3f from the nearest other material (%s)", i+1, a, same, j+1, other, nearest)
			if !(same < other) {
				t.Errorf("scan %d's %s is %.3f from scan %d's %s, no nearer than %.3f from its %s", i+1, a, same, j+1, a, other, nearest)
			}
		}
	}
}

// checkKEdge checks that an agent's mean HU jumps by half again from the
// bin whose range holds its K-edge to the next, the bins being those of
// the manifest, and that this is its largest rise.
func checkKEdge(t *testing.T, m *sinogram.Scan, sig Signature, edge float64, name string) {
	t.Helper()
	k := -1
	for b, bin := range m.Bins {
		if bin.LowKeV <= edge && edge < bin.HighKeV {
			k = b
		}
	}
	if k < 0 || k+1 >= len(sig.Bins) {
		t.Fatalf("%s: the manifest's bins %+v put its K-edge at %g keV in no bin with one above", name, m.Bins, edge)
	}
	below, above := sig.Bins[k].MeanHU, sig.Bins[k+1].MeanHU
	if !(above > 1.5*below) {
		t.Errorf("%s: %.0f HU in bin %d (%g-%g keV), %.0f above its K-edge at %g keV: no jump", name, below, k, m.Bins[k].LowKeV, m.Bins[k].HighKeV, above, edge)
	}
	for b := 1; b < len(sig.Bins); b++ {
		if b != k+1 && sig.Bins[b].MeanHU-sig.Bins[b-1].MeanHU >= above-below {
			t.Errorf("%s: its largest rise is into bin %d, not across its K-edge into bin %d", name, b, k+1)
		}
	}
}

// Signatures of an analytic volume: exact means and standard deviations
// per bin, HU from the bin's water, the same unit vector for one material
// at two concentrations, the zero vector under MinNormHU, and voxels of
// exactly 0 left out.
func TestCompute(t *testing.T) {
	g := fdk.Grid{Dim: [3]int{4, 1, 1}, Spacing: [3]float64{1, 1, 1}}
	seg := &segment.Segmentation{Grid: g, Map: []int32{1, 2, 2, 3}, Objects: []segment.Object{{Label: 1}, {Label: 2}, {Label: 3}}}
	mu := [2]float64{0.04, 0.02}
	hu := [][2]float64{{300, 900}, {600, 1800}, {20, -10}} // an agent at c and 2c; water-like
	var bins []segment.Bin
	for b := range 2 {
		v := fdk.NewVolume(g)
		for i, m := range seg.Map {
			v.Data[i] = float32(mu[b] * (1 + hu[m-1][b]/1000))
		}
		bins = append(bins, segment.Bin{Index: b, LowKeV: 20 + 20*float64(b), HighKeV: 40 + 20*float64(b), MuWater: mu[b], Volume: v})
	}
	bins[1].Volume.Data[2] = 0 // outside the field of view in bin 1
	res, err := Compute(seg, bins, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1 / math.Sqrt(10), 3 / math.Sqrt(10)}
	for o, sig := range res.Signatures[:2] {
		for b, bs := range sig.Bins {
			if math.Abs(bs.MeanHU-hu[o][b]) > 1e-3 || bs.SDHU > 1e-3 || math.Abs(bs.MeanMu-mu[b]*(1+hu[o][b]/1000)) > 1e-8 {
				t.Errorf("object %d bin %d: %+v, want %g HU", sig.Label, b, bs, hu[o][b])
			}
		}
		if Distance(sig.Vector, want) > 1e-6 {
			t.Errorf("object %d: vector %v, want %v", sig.Label, sig.Vector, want)
		}
	}
	if n := res.Signatures[1].Bins[1].Voxels; n != 1 {
		t.Errorf("object 2 counts %d voxels in bin 1, want 1 (the other is outside the field of view)", n)
	}
	if v := res.Signatures[2].Vector; v[0] != 0 || v[1] != 0 {
		t.Errorf("water-like object: vector %v, want zeros (norm 22 HU under 50)", v)
	}
	// The settings hash is stable: a change of the defaults needs a new
	// hash in every record, which this golden value catches.
	if res.Kind() != Kind || res.Objects != seg.Settings.Hash() || res.Settings.Hash() != "c37c992203c363d3" {
		t.Errorf("kind %q, objects %q, settings hash %s", res.Kind(), res.Objects, res.Settings.Hash())
	}

	bins[0].Volume.Data[3] = 0
	if _, err := Compute(seg, bins[:1], DefaultSettings()); err == nil || !strings.Contains(err.Error(), "object 3 has no voxel inside the field of view in bin 0") {
		t.Errorf("object outside the field of view: %v", err)
	}
	if _, err := Compute(seg, []segment.Bin{bins[1], bins[0]}, DefaultSettings()); err == nil || !strings.Contains(err.Error(), "increasing energy") {
		t.Errorf("bins out of order: %v", err)
	}
	if _, err := Compute(seg, bins, Settings{MinNormHU: -1}); err == nil || !strings.Contains(err.Error(), "MinNormHU") {
		t.Errorf("negative MinNormHU: %v", err)
	}
}
