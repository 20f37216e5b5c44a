package sinogram_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/internal/fuzztest"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// FuzzReadManifest feeds ReadManifest arbitrary scan.json files, seeded
// with what the simulator writes and with the hostile manifests in
// testdata/fuzz/FuzzReadManifest. Properties: no panic; allocation bounded
// (a manifest asking for a billion flats must not list them); an error
// wraps ErrManifest and names scan.json; an accepted manifest validates,
// names a frame file for every frame it promises, and what WriteManifest
// writes of it ReadManifest reads back the same.
func FuzzReadManifest(f *testing.F) {
	for _, spec := range []scansim.Spec{tinySpec(), noiselessSpec()} {
		sim, err := scansim.New(spec)
		if err != nil {
			f.Fatal(err)
		}
		data, err := json.Marshal(sim.Scan())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	dir, out := f.TempDir(), f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, sinogram.ManifestName), data, 0o644); err != nil {
			t.Fatal(err)
		}
		var scan *sinogram.Scan
		var err error
		fuzztest.AllocBound(t, len(data), 1<<10, 256<<20, func() { scan, err = sinogram.ReadManifest(dir) })
		if err != nil {
			if !errors.Is(err, sinogram.ErrManifest) || !strings.Contains(err.Error(), sinogram.ManifestName) {
				t.Fatalf("error %q does not wrap ErrManifest and name %s", err, sinogram.ManifestName)
			}
			return
		}
		if err := scan.Validate(); err != nil {
			t.Fatalf("accepted a manifest that does not validate: %v", err)
		}
		l, g := scan.Layout, scan.Geometry
		raw := float64(l.ChipsX) * float64(l.ChipsY) * float64(l.ChipPixels*l.ChipPixels)
		if float64(scan.FrameBytes()) < raw || float64(g.Pixels()) != float64(g.Cols)*float64(g.Rows) || float64(g.Pixels()) < raw {
			t.Fatalf("accepted %d x %d chips of %d² pixels, a %d-byte frame and a %dx%d detector of %d pixels",
				l.ChipsX, l.ChipsY, l.ChipPixels, scan.FrameBytes(), g.Cols, g.Rows, g.Pixels())
		}
		for _, kind := range []string{sinogram.ProjectionFrame, sinogram.FlatFrame} {
			if p := scan.FramePath(kind, scan.Views-1, len(scan.Bins)-1, len(scan.CameraPositions())-1, scan.Flats-1); !strings.HasPrefix(p, dir+string(filepath.Separator)) {
				t.Fatalf("%s frame path %q leaves the scan folder", kind, p)
			}
		}
		if err := scan.WriteManifest(out); err != nil {
			t.Fatalf("WriteManifest of an accepted manifest: %v", err)
		}
		again, err := sinogram.ReadManifest(out)
		if err != nil {
			t.Fatalf("ReadManifest of what WriteManifest wrote: %v", err)
		}
		a, _ := json.Marshal(again)
		b, _ := json.Marshal(scan)
		if !bytes.Equal(a, b) {
			t.Fatalf("read back %s, wrote %s", a, b)
		}
	})
}

// FuzzDecodeFrame feeds DecodeFrame arbitrary frame bytes in each dtype.
// Properties: no panic; an error wraps ErrFormat and names the frame; an
// accepted frame has the pixels asked for, all finite, and EncodeFrame
// writes back the very bytes that were read.
func FuzzDecodeFrame(f *testing.F) {
	dtypes := []string{sinogram.Uint16, sinogram.Uint32, sinogram.Float32, "int12"}
	for d, counts := range [][]float64{{0, 1, 65535, 7}, {0, 4294967295, 12345678}, {0, -1.5, 3.4e38, 1e-45}} {
		data, _, err := sinogram.EncodeFrame(counts, dtypes[d])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(d), uint16(len(counts)))
	}
	f.Fuzz(func(t *testing.T, data []byte, dtype uint8, pixels uint16) {
		dt := dtypes[int(dtype)%len(dtypes)]
		const name = "frame under test"
		counts, err := sinogram.DecodeFrame(data, dt, int(pixels), name)
		if err != nil {
			if !errors.Is(err, sinogram.ErrFormat) || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %q does not wrap ErrFormat and name the frame", err)
			}
			return
		}
		if len(counts) != int(pixels) {
			t.Fatalf("%d pixels, asked for %d", len(counts), pixels)
		}
		for i, c := range counts {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				t.Fatalf("pixel %d is %v", i, c)
			}
		}
		back, saturated, err := sinogram.EncodeFrame(counts, dt)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("EncodeFrame of decoded counts: %v, bytes equal %v", err, bytes.Equal(back, data))
		}
		if dt != sinogram.Float32 && saturated != countFull(counts, dt) {
			t.Fatalf("%d pixels reported saturated", saturated)
		}
	})
}

// countFull counts the pixels at an integer dtype's full scale.
func countFull(counts []float64, dtype string) int {
	top := map[string]float64{sinogram.Uint16: math.MaxUint16, sinogram.Uint32: math.MaxUint32}[dtype]
	n := 0
	for _, c := range counts {
		if c == top {
			n++
		}
	}
	return n
}

// FuzzPreprocessFrames replaces the first flat and the first projection of
// a tiny simulated float32 scan (one chip, one bin, two views) with
// arbitrary bytes and preprocesses it. Properties: no panic; an error
// names the frame it is about (its description or its file); line
// integrals that come out are finite.
func FuzzPreprocessFrames(f *testing.F) {
	spec := noiselessSpec()
	spec.Views, spec.Thresholds, spec.Flats, spec.Darks = 2, []float64{20}, 1, 1
	spec.Layout.ChipsX = 1
	_, scan := simulateScan(f, spec)
	flatPath := scan.FramePath(sinogram.FlatFrame, 0, 0, 0, 0)
	projPath := scan.FramePath(sinogram.ProjectionFrame, 0, 0, 0, 0)
	flat, err := os.ReadFile(flatPath)
	if err != nil {
		f.Fatal(err)
	}
	proj, err := os.ReadFile(projPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(flat, proj)
	// Hostile frames of the right size, made here rather than kept as
	// testdata (64 KiB each): zeros, negative counts, counts near float32's
	// largest.
	fill := func(v float32) []byte {
		b := make([]byte, len(flat))
		for i := 0; i < len(b); i += 4 {
			binary.LittleEndian.PutUint32(b[i:], math.Float32bits(v))
		}
		return b
	}
	f.Add(fill(0), fill(3e38))
	f.Add(fill(-1000), fill(-1000))
	f.Add(fill(3e38), fill(0))
	f.Fuzz(func(t *testing.T, flat, proj []byte) {
		if err := os.WriteFile(flatPath, flat, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(projPath, proj, 0o644); err != nil {
			t.Fatal(err)
		}
		pp, err := sinogram.NewPreprocessor(scan, sinogram.PreprocessOptions{Threads: 1})
		if err != nil {
			if !strings.Contains(err.Error(), "flat 0 of bin 0 camera 0") && !strings.Contains(err.Error(), flatPath) {
				t.Fatalf("calibration error %q does not name the flat", err)
			}
			return
		}
		img, _, err := pp.LineIntegrals(0, 0)
		if err != nil {
			if !strings.Contains(err.Error(), "projection of view 0 bin 0 camera 0") && !strings.Contains(err.Error(), projPath) {
				t.Fatalf("error %q does not name the projection", err)
			}
			return
		}
		for i, v := range img {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("line integral %d is %v", i, v)
			}
		}
	})
}
