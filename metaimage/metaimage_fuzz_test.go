package metaimage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fuzztest"
)

// FuzzDecode feeds Decode and Read arbitrary .mha files, seeded with what
// Encode writes and with the hostile headers in testdata/fuzz/FuzzDecode.
// Properties: no panic; allocation bounded by the input's size, whatever
// the header promises; an error names a header field or the voxel data;
// Read (a file, whose size it checks first) and Decode (a stream) agree;
// a volume read back holds the input's last bytes bit for bit, and what
// Encode writes of it Decode reads back the same.
func FuzzDecode(f *testing.F) {
	for _, v := range seedVolumes() {
		var b bytes.Buffer
		if err := Encode(&b, v); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	path := filepath.Join(f.TempDir(), "v.mha")
	f.Fuzz(func(t *testing.T, data []byte) {
		var v *fdk.Volume
		var err error
		fuzztest.AllocBound(t, len(data), 8, 1<<20, func() { v, err = Decode(bufio.NewReader(bytes.NewReader(data))) })
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var fromFile *fdk.Volume
		var fileErr error
		fuzztest.AllocBound(t, len(data), 8, 2<<20, func() { fromFile, fileErr = Read(path) })
		if (err == nil) != (fileErr == nil) {
			t.Fatalf("Decode: %v, but Read: %v", err, fileErr)
		}
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "header: ") && !strings.HasPrefix(msg, "voxel data: ") {
				t.Fatalf("error %q names neither a header field nor the voxel data", msg)
			}
			return
		}
		d := v.Grid.Dim
		if v.Grid.Validate() != nil || float64(len(v.Data)) != float64(d[0])*float64(d[1])*float64(d[2]) {
			t.Fatalf("decoded an invalid volume: grid %+v, %d values", v.Grid, len(v.Data))
		}
		tail := data[len(data)-4*len(v.Data):]
		for i, x := range v.Data {
			if math.Float32bits(x) != binary.LittleEndian.Uint32(tail[4*i:]) {
				t.Fatalf("voxel %d is %08x, the input's %08x", i, math.Float32bits(x), tail[4*i:4*i+4])
			}
		}
		if !sameVolume(fromFile, v) {
			t.Fatalf("Read and Decode differ")
		}
		var b bytes.Buffer
		if err := Encode(&b, v); err != nil {
			t.Fatalf("Encode of a decoded volume: %v", err)
		}
		again, err := Decode(bufio.NewReader(&b))
		if err != nil || !sameVolume(again, v) {
			t.Fatalf("what Encode wrote decodes to something else (%v)", err)
		}
	})
}

// seedVolumes are small volumes with awkward spacings, origins and values.
func seedVolumes() []*fdk.Volume {
	grids := []fdk.Grid{
		{Dim: [3]int{1, 1, 1}, Spacing: [3]float64{1, 1, 1}},
		{Dim: [3]int{3, 2, 2}, Spacing: [3]float64{0.1, 1e-300, 7}, Origin: fdk.Vec3{-1e300, 0.5, math.Pi}},
	}
	var out []*fdk.Volume
	for _, g := range grids {
		v := fdk.NewVolume(g)
		for i := range v.Data {
			v.Data[i] = []float32{0, -1, float32(math.NaN()), float32(math.Inf(1)), math.SmallestNonzeroFloat32}[i%5]
		}
		out = append(out, v)
	}
	return out
}

// sameVolume compares grids and voxels bit for bit, so that NaN equals NaN.
func sameVolume(a, b *fdk.Volume) bool {
	if a.Grid != b.Grid || len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return false
		}
	}
	return true
}

// FuzzDecodeLabels feeds DecodeLabels and ReadLabels arbitrary label
// images, seeded with what EncodeLabels writes in every element type.
// Properties: no panic; allocation bounded by the input; errors name a
// header field or the voxel data; file and stream agree; what decodes
// encodes and decodes back the same.
func FuzzDecodeLabels(f *testing.F) {
	for _, name := range LabelTypes() {
		var b bytes.Buffer
		if err := EncodeLabels(&b, labelGrid, typeLabels(integerTypes[name]), name); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	path := filepath.Join(f.TempDir(), "mask.mha")
	f.Fuzz(func(t *testing.T, data []byte) {
		var g fdk.Grid
		var labels []int32
		var err error
		// A 1-byte label becomes a 4-byte int32.
		fuzztest.AllocBound(t, len(data), 16, 1<<20, func() { g, labels, err = DecodeLabels(bufio.NewReader(bytes.NewReader(data))) })
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fg, fromFile, fileErr := ReadLabels(path)
		if (err == nil) != (fileErr == nil) {
			t.Fatalf("DecodeLabels: %v, but ReadLabels: %v", err, fileErr)
		}
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "header: ") && !strings.HasPrefix(msg, "voxel data: ") {
				t.Fatalf("error %q names neither a header field nor the voxel data", msg)
			}
			return
		}
		if g.Validate() != nil || len(labels) != g.Voxels() || fg != g || !slices.Equal(fromFile, labels) {
			t.Fatalf("decoded grid %+v with %d labels; from the file %+v with %d", g, len(labels), fg, len(fromFile))
		}
		var b bytes.Buffer
		if err := EncodeLabels(&b, g, labels, "MET_INT"); err != nil {
			t.Fatalf("EncodeLabels of decoded labels: %v", err)
		}
		g2, again, err := DecodeLabels(bufio.NewReader(&b))
		if err != nil || g2 != g || !slices.Equal(again, labels) {
			t.Fatalf("what EncodeLabels wrote decodes to something else (%v)", err)
		}
	})
}
