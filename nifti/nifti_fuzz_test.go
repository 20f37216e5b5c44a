package nifti

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fuzztest"
)

// FuzzDecodeLabels feeds DecodeLabels and ReadLabels arbitrary files,
// seeded with what EncodeLabels writes in every datatype, plain and
// gzipped. Properties: no panic; allocation bounded by the input (by what
// it decompresses to, for gzip); errors name a header field, the voxel
// data, vox_offset or gzip; file and stream agree; what decodes encodes
// and decodes back the same.
func FuzzDecodeLabels(f *testing.F) {
	for _, dt := range Datatypes() {
		var b bytes.Buffer
		if err := EncodeLabels(&b, testGrid, testLabels(), dt); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(b.Bytes())
		w.Close()
		f.Add(z.Bytes())
	}
	path := filepath.Join(f.TempDir(), "mask.nii")
	f.Fuzz(func(t *testing.T, data []byte) {
		size := len(data)
		if z, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
			n, _ := io.Copy(io.Discard, io.LimitReader(z, 64<<20))
			size = max(size, int(n))
		}
		var g fdk.Grid
		var labels []int32
		var err error
		// A 1-byte label becomes a 4-byte int32.
		fuzztest.AllocBound(t, size, 16, 2<<20, func() { g, labels, err = DecodeLabels(bytes.NewReader(data)) })
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fg, fromFile, fileErr := ReadLabels(path)
		if (err == nil) != (fileErr == nil) {
			t.Fatalf("DecodeLabels: %v, but ReadLabels: %v", err, fileErr)
		}
		if err != nil {
			msg := err.Error()
			for _, prefix := range []string{"header: ", "voxel data: ", "vox_offset: ", "gzip: "} {
				if strings.HasPrefix(msg, prefix) {
					return
				}
			}
			t.Fatalf("error %q names no header field, nor the voxel data, nor gzip", msg)
		}
		if g.Validate() != nil || len(labels) != g.Voxels() || fg != g || !slices.Equal(fromFile, labels) {
			t.Fatalf("decoded grid %+v with %d labels; from the file %+v with %d", g, len(labels), fg, len(fromFile))
		}
		var b bytes.Buffer
		if err := EncodeLabels(&b, g, labels, Int32); err != nil {
			t.Fatalf("EncodeLabels of decoded labels: %v", err)
		}
		g2, again, err := DecodeLabels(&b)
		if err != nil || !slices.Equal(again, labels) {
			t.Fatalf("what EncodeLabels wrote decodes to something else (%v)", err)
		}
		for k := range 3 {
			if g2.Dim[k] != g.Dim[k] || float32(g2.Spacing[k]) != float32(g.Spacing[k]) || float32(g2.Origin[k]) != float32(g.Origin[k]) {
				t.Fatalf("grid %+v encodes and decodes as %+v", g, g2)
			}
		}
	})
}
