package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/sinogram"
)

// flatMean returns the mean over the raw pixels of a spectral scan's
// first flat frame, summed over its bins, and its counters' dtype.
func flatMean(t *testing.T, dir string) (float64, string) {
	t.Helper()
	scan, err := sinogram.ReadScan(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for b := range scan.Bins {
		f, err := scan.ReadFrame(sinogram.FlatFrame, 0, b, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range f {
			sum += v / float64(len(f))
		}
	}
	return sum, scan.Counts.Dtype
}

// TestSpectralPhantomDose checks that phantom --spectral takes the dose
// from --noise (open-beam photons per pixel over the spectrum, as for the
// analytic phantoms): twenty times the default counts give twenty times
// the flat field's counts, in uint32 frames since uint16 counters would
// saturate; 0 leaves out the counting noise. Before, --spectral refused
// --noise, and the README's material workflow could only scan at 20 000
// counts, whose maps were noise.
func TestSpectralPhantomDose(t *testing.T) {
	dir := t.TempDir()
	small := []string{"--spectral", "--views", "1", "--thresholds", "15,33.5,50.5"}
	scan := func(name string, extra ...string) string {
		out := filepath.Join(dir, name)
		if err := runPhantom(append(append(small, "-o", out), extra...)); err != nil {
			t.Fatal(err)
		}
		return out
	}
	base, baseType := flatMean(t, scan("default"))
	high, highType := flatMean(t, scan("high", "--noise", "400000"))
	t.Logf("flat field: %.0f counts (%s) at the default dose, %.0f (%s) at --noise 400000", base, baseType, high, highType)
	if baseType != sinogram.Uint16 || highType != sinogram.Uint32 {
		t.Errorf("counters %s and %s, want uint16 at the default dose and uint32 at 400000", baseType, highType)
	}
	if r := high / base; math.Abs(r-20) > 0.2 {
		t.Errorf("flat field at --noise 400000 is %.3f times the default's, want 20", r)
	}

	exact, err := sinogram.ReadScan(scan("exact", "--noise", "0"))
	if err != nil {
		t.Fatal(err)
	}
	f0, _ := exact.ReadFrame(sinogram.FlatFrame, 0, 0, 0, 0)
	f1, _ := exact.ReadFrame(sinogram.FlatFrame, 0, 0, 0, 1)
	same := 0
	for i := range f0 {
		if f0[i] == f1[i] {
			same++
		}
	}
	if same < len(f0)*99/100 {
		t.Errorf("--noise 0: %d of %d pixels count the same in two flat frames, want all but the defective ones (no counting noise)", same, len(f0))
	}
}

// TestSpectralPhantomDoseRefused checks that a dose phantom --spectral
// cannot simulate is refused before anything is written, naming --noise.
func TestSpectralPhantomDoseRefused(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ noise, want string }{
		{"-5", "--noise: -5: want the open-beam photon counts"},
		{"NaN", "--noise: NaN"},
		{"+Inf", "--noise: +Inf"},
		{"1e12", "--noise 1e+12: simulate: OpenCounts 1e+12: the counts would saturate the counters"},
	} {
		out := filepath.Join(dir, "out")
		err := runPhantom([]string{"--spectral", "--views", "1", "--noise", c.noise, "-o", out})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--noise %s: err = %v, want one saying %q", c.noise, err, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("--noise %s: wrote %s", c.noise, out)
		}
	}
}
