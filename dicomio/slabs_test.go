package dicomio

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
)

// A series written a slab at a time, slabs in any order, is byte for byte
// the one WriteSeries writes of the whole volume (Created fixed); a slab
// written twice, a volume that is no slab of the grid, and Close before
// every slice are refused, and Abort leaves nothing behind.
func TestSeriesWriterSlabs(t *testing.T) {
	vol, _ := testVolume()
	opts := testOptions
	opts.Created = testStudy().StudyTime
	st, b := testStudy(), testBins[0]
	b.SeriesInstanceUID = NewUID()
	whole, err := WriteSeries(t.TempDir(), st, b, vol, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := NewSeriesWriter(dir, st, b, vol.Grid, opts)
	if err != nil {
		t.Fatal(err)
	}
	slab := func(z0, z1 int) *fdk.Volume {
		g, err := vol.Grid.Slab(z0, z1)
		if err != nil {
			t.Fatal(err)
		}
		plane := g.Dim[0] * g.Dim[1]
		return &fdk.Volume{Grid: g, Data: vol.Data[z0*plane : z1*plane]}
	}
	for _, r := range [][2]int{{3, 4}, {0, 2}} {
		if err := w.WriteSlab(slab(r[0], r[1]), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); !errors.Is(err, ErrInput) {
		t.Errorf("Close with slice 2 missing: %v, want ErrInput", err)
	}
	if err := w.WriteSlab(slab(1, 3), nil); !errors.Is(err, ErrInput) {
		t.Errorf("slice 1 again: %v, want ErrInput", err)
	}
	other := fdk.NewVolume(fdk.CenteredGrid([3]int{7, 5, 1}, [3]float64{0.3, 0.45, 0.9}, fdk.Vec3{}))
	if err := w.WriteSlab(other, nil); !errors.Is(err, ErrInput) {
		t.Errorf("a volume of another grid: %v, want ErrInput", err)
	}
	if err := w.WriteSlab(slab(2, 3), nil); err != nil {
		t.Fatal(err)
	}
	s, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Instances) != len(whole.Instances) {
		t.Fatalf("%d instances, want %d", len(s.Instances), len(whole.Instances))
	}
	for k, in := range s.Instances {
		got, err1 := os.ReadFile(in.Path)
		want, err2 := os.ReadFile(whole.Instances[k].Path)
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) || in.SOPInstanceUID != whole.Instances[k].SOPInstanceUID {
			t.Errorf("slice %d: differs from the whole volume's file (%v, %v)", k, err1, err2)
		}
	}
	aborted := t.TempDir()
	w, err = NewSeriesWriter(aborted, st, b, vol.Grid, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteSlab(slab(0, 1), nil); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if left, err := os.ReadDir(aborted); err != nil || len(left) > 0 {
		t.Errorf("Abort left %v (%v)", left, err)
	}
}
