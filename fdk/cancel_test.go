package fdk

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
)

// A reconstruction whose context has ended stops: the reconstructor's Add
// returns the context's error instead of back-projecting its batch, and
// the CPU back-projector given such a context leaves the volume untouched
// (it stops between chunks of rows, not at the end of its batch).
func TestContextStopsBackprojection(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	g := randomGeometry(rng, 8)
	grid := CenteredGrid([3]int{32, 32, 8}, [3]float64{1, 1, 1}, Vec3{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ones := func() []float32 {
		img := make([]float32, g.Pixels())
		for i := range img {
			img[i] = 1
		}
		return img
	}

	r, err := New(g, grid, 1, Options{Context: ctx, Batch: 8, KeepOutsideFOV: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Abort()
	for v := range 8 {
		err = r.Add(v, [][]float32{ones()})
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Add of a full batch after the context ended: err = %v, want context.Canceled", err)
	}

	views, _ := g.Views()
	acc, err := CPU{Threads: 2}.Start(views, g.Detector, grid, 1)
	if err != nil {
		t.Fatal(err)
	}
	acc.(interruptible).interruptBy(ctx)
	batch := make([]Filtered, len(views))
	for v := range batch {
		batch[v] = Filtered{View: v, Bins: [][]float32{ones()}}
	}
	if err := acc.Add(batch); !errors.Is(err, context.Canceled) {
		t.Errorf("CPU Add after the context ended: err = %v, want context.Canceled", err)
	}
	for i, x := range acc.(*cpuAccumulator).vols[0].Data {
		if x != 0 {
			t.Fatalf("voxel %d is %g: the back-projection went on after the context ended", i, x)
		}
	}
}
