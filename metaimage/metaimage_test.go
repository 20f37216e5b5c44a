package metaimage

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fuzztest"
)

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	g := fdk.Grid{Dim: [3]int{7, 5, 3}, Spacing: [3]float64{0.5, 1.25, 2}, Origin: fdk.Vec3{-1.5, 2.25, -100}}
	v := fdk.NewVolume(g)
	for i := range v.Data {
		v.Data[i] = rng.Float32()*2 - 1
	}
	path := t.TempDir() + "/v.mha"
	if err := Write(path, v); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Grid != g {
		t.Fatalf("grid = %+v, want %+v", got.Grid, g)
	}
	for i := range v.Data {
		if got.Data[i] != v.Data[i] {
			t.Fatalf("voxel %d = %g, want %g", i, got.Data[i], v.Data[i])
		}
	}
}

// Decode rejects what it cannot read faithfully with an error naming the
// field, and a header promising more than the input holds (up to 64 GiB
// here) costs no more memory than the input.
func TestDecodeRejects(t *testing.T) {
	good := "ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementSpacing = 1 1 1\nOffset = 0 0 0\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n"
	for _, tc := range []struct{ name, header, data, want string }{
		{"short data", good, "abcd", "voxel data"},
		{"2D", strings.Replace(good, "NDims = 3", "NDims = 2", 1), "", "NDims"},
		{"ushort", strings.Replace(good, "MET_FLOAT", "MET_USHORT", 1), "", "ElementType"},
		{"bad dims", strings.Replace(good, "2 2 2", "2 2", 1), "", "DimSize"},
		{"zero spacing", strings.Replace(good, "ElementSpacing = 1 1 1", "ElementSpacing = 1 0 1", 1), "", "spacing"},
		{"no data line", "NDims = 3\n", "", "ElementDataFile"},
		{"big endian", strings.Replace(good, "NDims = 3", "NDims = 3\nBinaryDataByteOrderMSB = True", 1), "", "big-endian"},
		{"huge", strings.Replace(good, "2 2 2", "100000 100000 100000", 1), "abcd", "DimSize"},
		{"64 GiB promised", strings.Replace(good, "2 2 2", "2048 2048 4096", 1), "abcdefgh", "voxel data"},
		{"overflow", strings.Replace(good, "2 2 2", "4294967296 4294967296 1", 1), "", "DimSize"},
		{"fraction", strings.Replace(good, "2 2 2", "2.5 2 2", 1), strings.Repeat("abcd", 8), "DimSize"},
		{"twice", strings.Replace(good, "DimSize = 2 2 2", "DimSize = 2 2 2\nDimSize = 1 1 1", 1), strings.Repeat("abcd", 8), "DimSize given twice"},
		{"trailing", good, strings.Repeat("abcd", 9), "more than"},
		{"channels", strings.Replace(good, "NDims = 3", "NDims = 3\nElementNumberOfChannels = 3", 1), strings.Repeat("abcd", 24), "ElementNumberOfChannels"},
		{"nan spacing", strings.Replace(good, "ElementSpacing = 1 1 1", "ElementSpacing = NaN 1 1", 1), strings.Repeat("abcd", 8), "ElementSpacing"},
		{"no newline", strings.Repeat("x", 70000), "", "header"},
	} {
		var err error
		fuzztest.AllocBound(t, len(tc.header+tc.data), 8, 1<<20, func() {
			_, err = Decode(bufio.NewReader(bytes.NewReader([]byte(tc.header + tc.data))))
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}
