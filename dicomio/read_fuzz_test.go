package dicomio

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/internal/fuzztest"
)

// FuzzReadSliceHU feeds ReadSliceHU, the one reader of DICOM in the
// project, arbitrary files, seeded with slices WriteSeries writes (both
// bins of the test study, so both character sets and an open top bin) and
// with the hostile files in testdata/fuzz/FuzzReadSliceHU. Properties: no
// panic, whatever the DICOM library does with the file; allocation bounded
// by the file's size; an error names the file; a slice read has cols x rows
// HU values, each finite or NaN (PixelPaddingValue: outside the field of
// view).
func FuzzReadSliceHU(f *testing.F) {
	vol, _ := testVolume()
	dir := f.TempDir()
	for _, b := range testBins {
		s, err := WriteSeries(dir, testStudy(), b, vol, testOptions)
		if err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(s.Instances[0].Path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	path := filepath.Join(f.TempDir(), "IM_0001.dcm")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var hu []float64
		var cols, rows int
		var err error
		fuzztest.AllocBound(t, len(data), 64, 4<<20, func() { hu, cols, rows, err = ReadSliceHU(path) })
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if cols < 1 || rows < 1 || len(hu) != cols*rows {
			t.Fatalf("%d values for %dx%d pixels", len(hu), cols, rows)
		}
		for i, v := range hu {
			if math.IsInf(v, 0) {
				t.Fatalf("pixel %d is %v HU", i, v)
			}
		}
	})
}

// ReadSliceHU reads back what WriteSeries wrote, and refuses damaged files
// with an error naming the file and what is wrong, without allocating what
// a damaged length says.
func TestReadSliceHURejects(t *testing.T) {
	vol, _ := testVolume()
	s, err := WriteSeries(t.TempDir(), testStudy(), testBins[0], vol, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(s.Instances[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, cols, rows, err := ReadSliceHU(s.Instances[0].Path); err != nil || cols != 7 || rows != 5 {
		t.Fatalf("good slice: %dx%d, %v", cols, rows, err)
	}
	// Offsets of the pixel data element and of the transfer syntax's value.
	px := bytes.Index(good, []byte{0xe0, 0x7f, 0x10, 0x00, 'O', 'W'})
	ts := bytes.Index(good, []byte(explicitVRLittleEndian))
	if px < 0 || ts < 0 {
		t.Fatal("test slice has no pixel data or transfer syntax")
	}
	cases := []struct {
		name  string
		spoil func(b []byte) []byte
		want  string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, "length 70, but 67 bytes are left"},
		{"4 GiB pixel data", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[px+8:], 0xfffffff0); return b }, "length 4294967280"},
		{"implicit VR", func(b []byte) []byte { copy(b[ts:], "1.2.840.10008.1.2\x00\x00"); return b }, "transfer syntax"},
		{"no preamble", func(b []byte) []byte { return b[128:] }, "not a DICOM file"},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "IM.dcm")
		if err := os.WriteFile(path, tc.spoil(bytes.Clone(good)), 0o644); err != nil {
			t.Fatal(err)
		}
		var err error
		fuzztest.AllocBound(t, len(good), 64, 4<<20, func() { _, _, _, err = ReadSliceHU(path) })
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to name %s and %q", tc.name, err, path, tc.want)
		}
	}
}
