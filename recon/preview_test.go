package recon

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/preview"
)

// decodePNG reads a PNG file.
func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// The offline job writes montage.png next to the previews, named in the
// report: pixel for pixel the montage of the central axial slice of every
// bin's volume (read back from the job's .mha files) in the previews' one
// HU window, each bin converted with its own water calibration.
func TestRunWritesMontage(t *testing.T) {
	dir, err := offlineVolumes()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Montage != filepath.Join(dir, "montage.png") {
		t.Fatalf("report names the montage %q, want montage.png in %s", rep.Montage, dir)
	}
	var vols []preview.Volume
	for _, b := range rep.Bins {
		v, err := metaimage.Read(filepath.Join(dir, fmt.Sprintf("volume_bin%d.mha", b.Index)))
		if err != nil {
			t.Fatal(err)
		}
		vols = append(vols, preview.Volume{Volume: v, MuWater: b.MuWater, Title: binTitle(b.Index, b.LowKeV, b.HighKeV)})
		if r := decodePNG(t, b.Preview).Bounds(); max(r.Dx(), r.Dy()) < preview.MinLongSide {
			t.Errorf("bin %d: preview %v, want at least %d pixels on its long side", b.Index, r.Size(), preview.MinLongSide)
		}
	}
	want, err := preview.Montage(vols, previewWindow)
	if err != nil {
		t.Fatal(err)
	}
	got := decodePNG(t, rep.Montage)
	if got.Bounds() != want.Bounds() {
		t.Fatalf("montage.png is %v, want %v (%d bins)", got.Bounds(), want.Bounds(), len(vols))
	}
	diff := 0
	for y := range want.Bounds().Dy() {
		for x := range want.Bounds().Dx() {
			r, g, b, _ := got.At(x, y).RGBA()
			w := want.RGBAAt(x, y)
			if uint8(r>>8) != w.R || uint8(g>>8) != w.G || uint8(b>>8) != w.B {
				diff++
			}
		}
	}
	if diff > 0 {
		t.Errorf("montage.png differs from the montage of the %d bins' volumes in %d pixels", len(vols), diff)
	}
}
