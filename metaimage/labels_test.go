package metaimage

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fuzztest"
	"github.com/ctrecon/ctrecon/internal/peertest"
)

var labelGrid = fdk.Grid{Dim: [3]int{4, 3, 2}, Spacing: [3]float64{0.5, 1.25, 2}, Origin: fdk.Vec3{-1.5, 2.25, -100}}

// typeLabels returns labels for labelGrid that span t's range as far as an
// int32 holds it: its least and greatest values, 0 and small labels.
func typeLabels(t integerType) []int32 {
	l := make([]int32, labelGrid.Voxels())
	for i := range l {
		l[i] = int32(i % 7)
	}
	l[3] = int32(max(t.min, math.MinInt32))
	l[5] = int32(min(t.max, math.MaxInt32))
	return l
}

// Every integer element type writes and reads back the same labels and
// grid, its extreme values included.
func TestLabelsRoundTrip(t *testing.T) {
	for _, name := range LabelTypes() {
		want := typeLabels(integerTypes[name])
		path := filepath.Join(t.TempDir(), "mask.mha")
		if err := WriteLabels(path, labelGrid, want, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		g, got, err := ReadLabels(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if g != labelGrid || !slices.Equal(got, want) {
			t.Errorf("%s: read grid %+v labels %v, wrote %+v %v", name, g, got, labelGrid, want)
		}
	}
}

// Masks that plastimatch (ITK's MetaIO) writes in each integer type it
// converts to read back as the labels they hold: the element types and
// their byte order are MetaIO's, not only ours.
func TestLabelsFromPlastimatch(t *testing.T) {
	exe := peertest.Tool(t, "plastimatch", "plastimatch")
	dir := t.TempDir()
	want := make([]int32, labelGrid.Voxels())
	for i := range want {
		want[i] = int32(i*37) % 121
	}
	src := fdk.NewVolume(labelGrid)
	for i, x := range want {
		src.Data[i] = float32(x)
	}
	in := filepath.Join(dir, "labels.mha")
	if err := Write(in, src); err != nil {
		t.Fatal(err)
	}
	for typ, met := range map[string]string{"char": "MET_CHAR", "uchar": "MET_UCHAR", "short": "MET_SHORT", "ushort": "MET_USHORT", "int": "MET_INT", "uint": "MET_UINT"} {
		out := filepath.Join(dir, typ+".mha")
		if b, err := exec.Command(exe, "convert", "--input", in, "--output-img", out, "--output-type", typ).CombinedOutput(); err != nil {
			t.Fatalf("plastimatch convert --output-type %s: %v\n%s", typ, err, b)
		}
		g, got, err := ReadLabels(out)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if data, _ := os.ReadFile(out); !bytes.Contains(data, []byte("ElementType = "+met+"\n")) {
			t.Errorf("plastimatch wrote %s as something other than %s", typ, met)
		}
		if g != labelGrid || !slices.Equal(got, want) {
			t.Errorf("%s: read grid %+v labels %v, want %+v %v", typ, g, got, labelGrid, want)
		}
	}
}

// Labels that do not fit a 32-bit label, element types that are not
// integers and short data are errors naming the field or voxel; allocation
// stays bounded by the input.
func TestDecodeLabelsRejects(t *testing.T) {
	header := func(typ, dims string) string {
		return fmt.Sprintf("NDims = 3\nDimSize = %s\nElementSpacing = 1 1 1\nOffset = 0 0 0\nElementType = %s\nElementDataFile = LOCAL\n", dims, typ)
	}
	for _, tc := range []struct{ name, input, want string }{
		{"float", header("MET_FLOAT", "1 1 1") + "abcd", `ElementType = "MET_FLOAT", a label image needs one of`},
		{"uint above int32", header("MET_UINT", "2 1 1") + "\x01\x00\x00\x00\x00\x00\x00\x80", "voxel 1: label 2147483648 does not fit"},
		{"ulong long", header("MET_ULONG_LONG", "1 1 1") + strings.Repeat("\xff", 8), "voxel 0: label 9223372036854775807 does not fit"},
		{"short data", header("MET_SHORT", "2 2 2") + "abcd", "voxel data"},
		{"promised 16 GiB", header("MET_LONG_LONG", "1024 1024 2048") + "abcdefgh", "voxel data"},
		{"trailing", header("MET_UCHAR", "1 1 1") + "ab", "more than"},
	} {
		var err error
		fuzztest.AllocBound(t, len(tc.input), 8, 1<<20, func() {
			_, _, err = DecodeLabels(bufio.NewReader(strings.NewReader(tc.input)))
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	var b bytes.Buffer
	if err := EncodeLabels(&b, labelGrid, make([]int32, labelGrid.Voxels()-1), "MET_SHORT"); err == nil {
		t.Error("EncodeLabels took one label too few")
	}
	big := make([]int32, labelGrid.Voxels())
	big[7] = 300
	if err := EncodeLabels(&b, labelGrid, big, "MET_UCHAR"); err == nil || !strings.Contains(err.Error(), "voxel 7: label 300 does not fit MET_UCHAR") || b.Len() > 0 {
		t.Errorf("EncodeLabels of 300 as MET_UCHAR: %v, %d bytes written", err, b.Len())
	}
}
