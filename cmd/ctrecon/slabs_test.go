package main

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
)

// --slabs that is not a whole number of at least 1 or auto, more than the
// volume's slices, or auto without --max-memory, is refused at submit
// naming the flag, before anything is queued (no server answers at this
// URL).
func TestSubmitSlabsFlag(t *testing.T) {
	for _, tc := range []struct{ slabs, want string }{
		{"0", "--slabs: 0: must be at least 1"},
		{"-2", "--slabs: -2: must be at least 1"},
		{"9", "--slabs: 9 slabs of a volume of 8 slices"},
		{"x", `--slabs: "x": want a number of slabs or auto`},
		{"auto", "--slabs: auto chooses the slabs from the memory budget (max_memory_bytes, --max-memory)"},
	} {
		err := runSubmit([]string{"--nats", "nats://127.0.0.1:1", "--scan", "S1", "--dim", "8", "--slabs", tc.slabs})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("--slabs %s: err = %v, want %q", tc.slabs, err, tc.want)
		}
	}
}

// A job split into three slabs on three worker processes runs its slabs on
// three different workers, as its report says, and writes the series the
// same job in one piece writes: pixels, positions and instance numbers;
// its report has the one-piece job's pre-processing counts, counted once.
// Within a memory budget, each of two slab tasks reconstructs its slab in
// parts and the coordinator, which cannot hold the volume, writes the
// series a slab at a time; with --slabs auto there is one task per slab
// of the budget, each in one part. Their series are the same too. A
// worker killed (SIGKILL) in the middle of a slab of another split job
// loses only that slab, which another worker redoes after the ack wait,
// and that job's series is the same too.
func TestSlabsOnWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs worker processes")
	}
	bin := buildCtrecon(t)
	b, srv := bustest.Start(t, bus.Config{AckWait: 2 * time.Second})
	scan := acquireSimulated(t, b, 60)
	procs := map[string]*exec.Cmd{} // by the "/<pid>/" of their workers' names
	for range 3 {
		cmd, _ := startWorkerProcess(t, bin, srv.ClientURL())
		procs[fmt.Sprintf("/%d/", cmd.Process.Pid)] = cmd
	}
	dir := t.TempDir()
	submit := func(id string, slabs recon.SlabCount, budget int64) string {
		out := filepath.Join(dir, id)
		job := recon.Job{ID: id, ScanID: scan, Output: out, Slabs: slabs, MaxMemoryBytes: budget,
			Volume: recon.VolumeSpec{Dim: [3]int{96, 96, 12}, VoxelMM: [3]float64{0.4, 0.4, 0.4}}}
		if _, _, err := recon.Submit(context.Background(), b, job); err != nil {
			t.Fatal(err)
		}
		return out
	}
	done := func(st bus.Status) bool { return st.State == bus.StateDone }

	whole := submit("whole-1", 0, 0)
	waitStatus(t, b, "whole-1", done)
	one, err := recon.ReadReport(whole)
	if err != nil {
		t.Fatal(err)
	}
	if p := one.Preprocessing; p.Interpolated() == 0 {
		t.Fatalf("the one-piece job's pre-processing %+v: want pixels interpolated, to compare", p)
	}
	split := submit("split-1", 3, 0)
	if st := waitStatus(t, b, "split-1", done); st.Slabs != 3 || st.SlabsDone != 3 {
		t.Errorf("status %+v, want 3 of 3 slabs done", st)
	}
	rep, err := recon.ReadReport(split)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range rep.Slabs {
		seen[workerProcess(s.Worker, procs)] = true
	}
	if len(rep.Slabs) != 3 || len(seen) != 3 || seen[""] {
		t.Errorf("slabs %+v: want three, each on another of the three worker processes", rep.Slabs)
	}
	if rep.Preprocessing != one.Preprocessing {
		t.Errorf("pre-processing %+v, want the one-piece job's %+v", rep.Preprocessing, one.Preprocessing)
	}
	sameSeries(t, whole, split)

	// 84 MiB holds 3 of the 12 slices (fdk.PlanSlabs), so neither a task
	// of 6 slices nor the coordinator holds its volume whole.
	bounded := submit("split-mem", 2, 84<<20)
	waitStatus(t, b, "split-mem", done)
	rep = boundedReport(t, bounded, 2, one)
	for _, s := range rep.Slabs {
		if len(s.Parts) < 2 || s.Parts[0].Slices[0] != s.Slices[0] || s.Parts[len(s.Parts)-1].Slices[1] != s.Slices[1] {
			t.Errorf("slab %+v: want it reconstructed in parts within the budget, covering its slices", s)
		}
	}
	sameSeries(t, whole, bounded)
	auto := submit("split-auto", recon.SlabsAuto, 84<<20)
	waitStatus(t, b, "split-auto", done)
	rep = boundedReport(t, auto, 0, one)
	seen = map[string]bool{}
	for _, s := range rep.Slabs {
		seen[workerProcess(s.Worker, procs)] = true
		if len(s.Parts) != 0 {
			t.Errorf("slab %+v of --slabs auto: want it in one piece, a slab of the budget", s)
		}
	}
	if len(rep.Slabs) < 3 || len(seen) < 2 {
		t.Errorf("--slabs auto: slabs %+v, want three or more across the workers", rep.Slabs)
	}
	sameSeries(t, whole, auto)

	killed := submit("split-2", 3, 0)
	var victim string
	var slab int
	waitStatus(t, b, "split-2", func(st bus.Status) bool {
		for i := range 3 {
			s, err := b.GetStatus(context.Background(), bus.SlabKey("split-2", i))
			p := workerProcess(strings.ReplaceAll(s.Attempt, "-", "/"), procs)
			if err == nil && s.State == bus.StateRunning && p != "" && !strings.Contains(strings.ReplaceAll(st.Attempt, "-", "/"), p) {
				victim, slab = p, i
				return true
			}
		}
		return false
	})
	t.Logf("killing worker process %s in the middle of slab %d", victim, slab)
	procs[victim].Process.Kill()
	procs[victim].Wait()
	waitStatus(t, b, "split-2", done)
	rep, err = recon.ReadReport(killed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("slabs after the kill: %+v", rep.Slabs)
	if len(rep.Slabs) != 3 || workerProcess(rep.Slabs[slab].Worker, procs) == victim {
		t.Errorf("slabs %+v: want slab %d redone by a worker other than the killed one (%s)", rep.Slabs, slab, victim)
	}
	sameSeries(t, whole, killed)
}

// boundedReport returns the report of a split job within a memory budget
// that the volume exceeds, under out, checking that it has slabs slabs
// (0: several), each with its worker, the coordinator's warning that the
// volume was never held whole and no montage, and the pre-processing
// counts of the one-piece report.
func boundedReport(t *testing.T, out string, slabs int, one *recon.Report) *recon.Report {
	t.Helper()
	rep, err := recon.ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Slabs) < 2 || slabs > 0 && len(rep.Slabs) != slabs {
		t.Errorf("%s: slabs %+v, want %d", out, rep.Slabs, slabs)
	}
	for i, s := range rep.Slabs {
		if s.Index != i || s.Worker == "" {
			t.Errorf("%s: slab %d: %+v", out, i, s)
		}
	}
	if rep.Montage != "" || !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "never held whole") }) {
		t.Errorf("%s: montage %q, warnings %q: want the volume never held whole", out, rep.Montage, rep.Warnings)
	}
	if rep.Preprocessing != one.Preprocessing {
		t.Errorf("%s: pre-processing %+v, want the one-piece job's %+v", out, rep.Preprocessing, one.Preprocessing)
	}
	return rep
}

// workerProcess returns the key of procs whose process name holds, or "".
func workerProcess(name string, procs map[string]*exec.Cmd) string {
	for p := range procs {
		if strings.Contains(name, p) {
			return p
		}
	}
	return ""
}

// sameSeries fails unless every bin's series under got has the slices of
// the one under want: the same pixels (padding included), positions and
// instance numbers, and within got one series UID per bin.
func sameSeries(t *testing.T, want, got string) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(want, "dicom", "bin*", "IM_*.dcm"))
	if len(paths) != 5*12 {
		t.Fatalf("%d slices under %s, want 5 bins of 12", len(paths), want)
	}
	uids := map[string]map[string]bool{}
	for _, path := range paths {
		rel, _ := filepath.Rel(want, path)
		w, g := sliceOf(t, path), sliceOf(t, filepath.Join(got, rel))
		if w.position != g.position || w.instance != g.instance {
			t.Errorf("%s: position %s, instance %s; one piece: %s, %s", rel, g.position, g.instance, w.position, w.instance)
		}
		if !slices.EqualFunc(w.hu, g.hu, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
			t.Errorf("%s: pixels differ from the one-piece job's", rel)
		}
		series := filepath.Dir(rel)
		if uids[series] == nil {
			uids[series] = map[string]bool{}
		}
		uids[series][g.series] = true
	}
	for series, u := range uids {
		if len(u) != 1 {
			t.Errorf("%s: %d series UIDs, want one", series, len(u))
		}
	}
}

type slice struct {
	hu                         []float64
	position, instance, series string
}

// sliceOf reads one DICOM slice: its HU and the attributes that place it.
func sliceOf(t *testing.T, path string) slice {
	t.Helper()
	hu, _, _, err := dicomio.ReadSliceHU(path)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dicom.ParseFile(path, nil, dicom.SkipPixelData())
	if err != nil {
		t.Fatal(err)
	}
	s := slice{hu: hu}
	for _, a := range []struct {
		tag tag.Tag
		dst *string
	}{{tag.ImagePositionPatient, &s.position}, {tag.InstanceNumber, &s.instance}, {tag.SeriesInstanceUID, &s.series}} {
		e, err := ds.FindElementByTag(a.tag)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, tag.DebugString(a.tag), err)
		}
		*a.dst = e.Value.String()
	}
	return s
}
