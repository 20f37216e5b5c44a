package recon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Slabs cover the slices once, in order, as even as can be.
func TestSlabRanges(t *testing.T) {
	for _, tc := range []struct{ nz, n int }{{4, 3}, {16, 3}, {7, 7}, {128, 5}, {3, 1}} {
		r := slabRanges(tc.nz, tc.n)
		if len(r) != tc.n || r[0][0] != 0 || r[len(r)-1][1] != tc.nz {
			t.Errorf("%d slices in %d slabs: %v", tc.nz, tc.n, r)
			continue
		}
		for i, z := range r {
			if size := z[1] - z[0]; size < tc.nz/tc.n || size > tc.nz/tc.n+1 {
				t.Errorf("%d slices in %d slabs: slab %d is %v", tc.nz, tc.n, i, z)
			}
			if i > 0 && z[0] != r[i-1][1] {
				t.Errorf("%d slices in %d slabs: slab %d %v does not follow %v", tc.nz, tc.n, i, z, r[i-1])
			}
		}
	}
}

// Slab volumes written in parts as a worker stores them, one part after
// another, are the whole volumes' encoding, and read back in other chunks
// give the whole volumes bit for bit; a stream that ends early is an
// error.
func TestWriteSlabInParts(t *testing.T) {
	grid := fdk.CenteredGrid([3]int{3, 2, 5}, [3]float64{1, 1, 1}, fdk.Vec3{})
	whole := make([]*fdk.Volume, 2)
	for b := range whole {
		whole[b] = fdk.NewVolume(grid)
		for i := range whole[b].Data {
			whole[b].Data[i] = float32(b*1000+i) / 7
		}
	}
	plane := 3 * 2
	part := func(z [2]int) []*fdk.Volume {
		sub, err := grid.Slab(z[0], z[1])
		if err != nil {
			t.Fatal(err)
		}
		vols := make([]*fdk.Volume, 2)
		for b := range vols {
			vols[b] = &fdk.Volume{Grid: sub, Data: whole[b].Data[z[0]*plane : z[1]*plane]}
		}
		return vols
	}
	var parts, all bytes.Buffer
	for _, z := range slabRanges(5, 3) {
		if err := writeSlab(&parts, part(z)); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeSlab(&all, whole); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(parts.Bytes(), all.Bytes()) {
		t.Fatal("the parts written in turn are not the whole volumes' encoding")
	}
	in := bytes.NewReader(parts.Bytes())
	for _, z := range slabRanges(5, 2) {
		got := part(z)
		for b := range got {
			got[b] = &fdk.Volume{Grid: got[b].Grid, Data: make([]float32, len(got[b].Data))}
		}
		if err := readSlab(in, got); err != nil {
			t.Fatal(err)
		}
		for b, v := range got {
			if want := whole[b].Data[z[0]*plane : z[1]*plane]; !slices.Equal(v.Data, want) {
				t.Errorf("bin %d slices %v: read %v, want %v", b, z, v.Data, want)
			}
		}
	}
	if err := readSlab(bytes.NewReader(all.Bytes()[:len(all.Bytes())-4]), whole); err == nil {
		t.Error("a stream one value short read as whole volumes")
	}
}

// More slabs than slices, fewer than none, or auto without a memory
// budget, is refused naming the field: at once when the job gives its
// slices, at the check against the scan when they are chosen from the
// field of view. Run, which has no workers, refuses a split job.
func TestJobSlabsRefused(t *testing.T) {
	j := smallJob(t) // 4 slices
	var fe *FieldError
	var fromJSON SlabCount // a job file's -1 is a negative count, not auto
	if err := json.Unmarshal([]byte("-1"), &fromJSON); err != nil || fromJSON == SlabsAuto {
		t.Errorf(`"slabs": -1 read as %v (%v), want -1`, fromJSON, err)
	}
	for _, n := range []SlabCount{-2, -1, 5, SlabsAuto} {
		j.Slabs = n
		if err := j.Validate(); !errors.As(err, &fe) || fe.Field != "slabs" {
			t.Errorf("slabs %d: %v, want an error about slabs", n, err)
		}
	}
	j.Slabs = 4
	if err := j.Validate(); err != nil {
		t.Errorf("4 slabs of 4 slices: %v", err)
	}
	j.MaxMemoryBytes = 1 << 30
	if err := j.Validate(); err != nil {
		t.Errorf("4 slabs within a memory bound: %v", err)
	}
	j.Slabs = SlabsAuto
	if err := j.Validate(); err != nil {
		t.Errorf("auto slabs within a memory bound: %v", err)
	}
	j.Slabs, j.MaxMemoryBytes = 4, 0
	scan, err := sinogram.ReadScan(j.Input)
	if err != nil {
		t.Fatal(err)
	}
	j.Volume.Dim = Triple[int]{} // chosen: 0.6 mm slices over the field of view's height
	grid, err := j.Grid(&scan.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	j.Slabs = SlabCount(grid.Dim[2] + 1)
	if err := Check(scan, j); !errors.As(err, &fe) || fe.Field != "slabs" || !strings.Contains(err.Error(), fmt.Sprint(grid.Dim[2])) {
		t.Errorf("%d slabs of %d slices: %v, want an error about slabs naming the slices", j.Slabs, grid.Dim[2], err)
	}
	j = smallJob(t)
	j.Slabs = 2
	if _, err := Run(context.Background(), j, Options{}); !errors.As(err, &fe) || fe.Field != "slabs" {
		t.Errorf("Run of a split job: %v, want refused naming slabs", err)
	}
}

// A job split into three slabs on three workers gives the volumes of the
// offline path bit for bit, its report names the worker of every slab and
// has the offline report's pre-processing counts (once, not per slab), its
// status counts the slabs, and the slabs' volumes leave the object store
// once the output is committed.
func TestSplitJobMatchesOffline(t *testing.T) {
	offline, err := offlineVolumes()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := bustest.Start(t, bus.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range 3 {
		w := &Worker{Bus: b, Dir: t.TempDir(), Name: WorkerName(i), RetryDelay: 100 * time.Millisecond}
		wg.Go(func() { w.Run(ctx) })
	}
	j := smallJob(t)
	j.ID, j.Slabs, j.WriteMHA = "split-1", 3, true
	if _, _, err := Submit(ctx, b, j); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, b, j.ID, 2*time.Minute)
	if st.State != bus.StateDone || st.Slabs != 3 || st.SlabsDone != 3 {
		t.Fatalf("status %+v, want done with 3 of 3 slabs", st)
	}
	var out strings.Builder
	if err := WriteStatus(&out, st); err != nil || !strings.Contains(out.String(), "  slabs 3 of 3 done") {
		t.Errorf("WriteStatus wrote %q (%v), want the slabs counted", out.String(), err)
	}
	out.Reset()
	running := bus.Status{State: bus.StateRunning, Slabs: 3, SlabsDone: 1}
	if err := WriteStatus(&out, running); err != nil || out.String() != "  slabs 1 of 3 done\n" {
		t.Errorf("WriteStatus of a running split job wrote %q (%v), want the slabs counted", out.String(), err)
	}
	compareVolumes(t, offline, j.Output)
	rep, err := ReadReport(j.Output)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Slabs) != 3 {
		t.Fatalf("report lists slabs %+v, want 3", rep.Slabs)
	}
	workers := []string{WorkerName(0), WorkerName(1), WorkerName(2)}
	for i, s := range rep.Slabs {
		if s.Index != i || s.Slices != slabRanges(4, 3)[i] || !slices.Contains(workers, s.Worker) || !(s.Seconds > 0) {
			t.Errorf("slab %d: %+v", i, s)
		}
	}
	one, err := ReadReport(offline)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Preprocessing != one.Preprocessing || rep.Preprocessing.Interpolated() == 0 {
		t.Errorf("pre-processing %+v, want the offline job's %+v (some pixels interpolated)", rep.Preprocessing, one.Preprocessing)
	}
	if n := objectsUnder(t, b, ".slabs/"); n != 0 {
		t.Errorf("%d slab objects left in the object store after the commit", n)
	}
}

// objectsUnder counts the objects of PROJECTIONS whose names start with
// prefix.
func objectsUnder(t *testing.T, b *bus.Bus, prefix string) int {
	t.Helper()
	obs, err := b.JetStream().ObjectStore(context.Background(), bus.BucketProjections)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := obs.List(context.Background())
	n := 0
	for _, o := range list {
		if strings.HasPrefix(o.Name, prefix) {
			n++
		}
	}
	return n
}

// A worker that holds one job at a time takes the slabs of the split job
// it coordinates: the coordinator waiting for its slabs does not count.
func TestSplitJobOnOneWorker(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	w := &Worker{Bus: b, Dir: t.TempDir(), Jobs: 1}
	wg.Go(func() { w.Run(ctx) })
	j := smallJob(t)
	j.ID, j.Slabs = "split-alone", 2
	if _, _, err := Submit(ctx, b, j); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, b, j.ID, 2*time.Minute); st.State != bus.StateDone || st.SlabsDone != 2 {
		t.Fatalf("status %+v, want done with 2 of 2 slabs", st)
	}
}

// Cancelling a split job stops its slabs in progress on every worker at
// once: each slab's status becomes cancelled, naming who cancelled the job,
// and its delivery is settled as cancelled. The slabs are caught in the
// middle for sure: the scan stops streaming after a few views, and its
// scan wait is far longer than the test waits.
func TestCancelStopsRunningSlabs(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx, stall := context.WithCancel(context.Background())
	acquired := make(chan struct{})
	go func() {
		defer close(acquired)
		Acquire(ctx, b, scanDir(t), AcquireOptions{Progress: func(done, _ int) {
			if done == 10 {
				<-ctx.Done()
			}
		}})
	}()
	defer func() { stall(); <-acquired }()
	workers := []*Worker{}
	for range 2 {
		w, _ := startWorker(t, b, t.TempDir())
		workers = append(workers, w)
	}
	j := streamJob(t, "split-cancel")
	j.Slabs, j.ScanWaitS, j.WriteMHA = 2, 600, false
	if _, _, err := Submit(context.Background(), b, j); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		waitFor(t, b, bus.SlabKey(j.ID, i), func(st bus.Status) bool { return st.State == bus.StateRunning && st.Attempt != "" })
	}
	if _, err := Cancel(context.Background(), b, j.ID, "tester"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		st := waitFor(t, b, bus.SlabKey(j.ID, i), func(st bus.Status) bool { return st.State != bus.StateRunning })
		if st.State != bus.StateCancelled || st.CancelledBy != "tester" {
			t.Errorf("slab %d: %+v, want cancelled by tester", i, st)
		}
	}
	for deadline := time.Now().Add(time.Minute); settled(workers[0], OutcomeCancelled)+settled(workers[1], OutcomeCancelled) != 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the workers settled %d and %d deliveries as cancelled, want the job's and its two slabs'",
				settled(workers[0], OutcomeCancelled), settled(workers[1], OutcomeCancelled))
		}
	}
}
