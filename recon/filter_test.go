package recon

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/sinogram"
)

// bandCutoff returns the cut-off of a Hann window at the voxels' band on
// the test scan for voxels of voxel mm: 2 × the detector pixel at the
// isocentre ÷ the voxel, as warnAliasing's warning suggests it.
func bandCutoff(t *testing.T, voxel float64) float64 {
	t.Helper()
	scan, err := sinogram.ReadScan(scanDir(t))
	if err != nil {
		t.Fatal(err)
	}
	g := &scan.Geometry
	return 2 * g.PitchU * g.SID / g.SDD / voxel
}

// filterWarnings returns the report's warnings about the ramp filter.
func filterWarnings(rep *Report) []string {
	var w []string
	for _, s := range rep.Warnings {
		if strings.HasPrefix(s, "filter: ") {
			w = append(w, s)
		}
	}
	return w
}

// A job that decomposes and names no ramp filter reconstructs with a
// Hann window cut at its voxels' band: the report and the log say which
// filter and that it was chosen for the decomposition (and how to name
// another), nothing warns of aliasing, and its bins and series UIDs are
// those of the same job naming that filter. Before, it took Ram-Lak at
// full band and warned that it aliases.
func TestMaterialJobChoosesFilter(t *testing.T) {
	job := smallJob(t)
	job.ID, job.Materials, job.Filter, job.WriteMHA = "filter-chosen", []string{"water", "iodine"}, FilterSpec{}, true
	var log bytes.Buffer
	rep, err := Run(context.Background(), job, Options{Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	want := bandCutoff(t, job.Volume.VoxelMM[0])
	t.Logf("band of %g mm voxels: %.4f of Nyquist; report %+v", job.Volume.VoxelMM[0], want, rep.Filter)
	if f := rep.Filter; f == nil || f.Window != "hann" || math.Abs(f.Cutoff-want) > 1e-9 || f.Padding != 2 ||
		!strings.Contains(f.Chosen, "material decomposition") || !strings.Contains(f.Chosen, "--filter") {
		t.Errorf("report's filter %+v, want hann cut at %.4f chosen for the material decomposition, naming --filter", f, want)
	}
	if w := filterWarnings(rep); len(w) > 0 {
		t.Errorf("warnings %q: the chosen filter does not alias", w)
	}
	if rep.Job.Filter != (FilterSpec{}) {
		t.Errorf("report's job filter %+v, want the job as given", rep.Job.Filter)
	}
	if !strings.Contains(log.String(), "filter: hann cut at") || !strings.Contains(log.String(), "chosen for the material decomposition") {
		t.Errorf("log %q: want the chosen filter", log.String())
	}
	named := job
	named.Output, named.Filter = t.TempDir(), FilterSpec{Window: "hann", Cutoff: want}
	other, err := Run(context.Background(), named, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range rep.Bins {
		if o := other.Bins[i]; o.SeriesInstanceUID != b.SeriesInstanceUID {
			t.Errorf("bin %d: series %s, naming the filter %s: want the same", b.Index, b.SeriesInstanceUID, o.SeriesInstanceUID)
		}
	}
	compareVolumes(t, named.Output, job.Output)
	// The same ID with another cut-off makes other maps: other map series
	// (before, the maps' UIDs did not follow the settings).
	coarse := named
	coarse.Output, coarse.Filter.Cutoff = t.TempDir(), want/2
	third, err := Run(context.Background(), coarse, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range rep.Materials.Maps {
		if o := other.Materials.Maps[i].SeriesInstanceUID; o != m.SeriesInstanceUID {
			t.Errorf("%s map: series %s, naming the filter %s: want the same", m.Material, m.SeriesInstanceUID, o)
		}
		if c := third.Materials.Maps[i].SeriesInstanceUID; c == m.SeriesInstanceUID {
			t.Errorf("%s map: series %s at cut-off %.3g and at %.3g: want other maps in other series", m.Material, c, want, want/2)
		}
	}
}

// A filter the job names is kept, Ram-Lak at full band included, and a
// decomposing job warns of it; a job that does not decompose keeps
// Ram-Lak at full band for no filter, without a warning unless it
// extracts features (a worker's job), whose objects the aliased noise
// makes (trial 28: objects of noise at 64³ voxels, none on the vials).
func TestNamedOrPlainFilterKept(t *testing.T) {
	for _, c := range []struct {
		name      string
		materials []string
		filter    FilterSpec
		features  bool
		want      FilterReport
		warns     bool
	}{
		{"materials, ram-lak named", []string{"water", "iodine"}, FilterSpec{Window: "ram-lak"}, false, FilterReport{Window: "ram-lak", Cutoff: 1, Padding: 2}, true},
		{"materials, cut-off named", []string{"water", "iodine"}, FilterSpec{Cutoff: 0.9}, false, FilterReport{Window: "ram-lak", Cutoff: 0.9, Padding: 2}, true},
		{"no materials, no filter", nil, FilterSpec{}, false, FilterReport{Window: "ram-lak", Cutoff: 1, Padding: 2}, false},
		{"features, no filter", nil, FilterSpec{}, true, FilterReport{Window: "ram-lak", Cutoff: 1, Padding: 2}, true},
	} {
		job := smallJob(t)
		job.ID, job.Materials, job.Filter = "filter-kept", c.materials, c.filter
		job.Volume.Dim = Triple[int]{32, 32, 4}
		rep, err := Run(context.Background(), job, Options{Features: c.features})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rep.Filter == nil || *rep.Filter != c.want {
			t.Errorf("%s: report's filter %+v, want %+v", c.name, rep.Filter, c.want)
		}
		if w := filterWarnings(rep); (len(w) == 1) != c.warns || c.warns && !strings.Contains(w[0], "--filter hann --cutoff") {
			t.Errorf("%s: filter warnings %q, want one naming the band's filter: %v", c.name, w, c.warns)
		}
	}
}

// A job submitted to workers that decomposes and names no filter, split
// into two slabs (taken by the coordinating worker itself), reconstructs with the Hann window at its voxels' band:
// the report says it was chosen, and the slabs' workers reconstruct with
// the filter the coordinator chose, bit for bit the same split job naming
// it and the offline job. Before, a split material job's coordinator
// skipped the second beam-hardening pass (correctHardening found no water
// linearization: only its slabs had prepared one), and its bins differed
// from the offline job's (bin 0 voxel 88: −0.0020449 against −0.0020493).
func TestWorkerJobChoosesFilter(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	startWorker(t, b, t.TempDir()) // it takes the slabs too while it waits
	j := smallJob(t)
	j.ID, j.Slabs, j.WriteMHA, j.Materials, j.Filter = "filter-split", 2, true, []string{"water", "iodine"}, FilterSpec{}
	want := bandCutoff(t, j.Volume.VoxelMM[0])
	named := j
	named.ID, named.Output, named.Filter = "filter-split-named", t.TempDir(), FilterSpec{Window: "hann", Cutoff: want}
	for _, j := range []Job{j, named} {
		if _, _, err := Submit(ctx, b, j); err != nil {
			t.Fatal(err)
		}
		if st := waitState(t, b, j.ID, 2*time.Minute); st.State != bus.StateDone {
			t.Fatalf("status %+v, want done", st)
		}
	}
	rep, err := ReadReport(j.Output)
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Filter; f == nil || f.Window != "hann" || math.Abs(f.Cutoff-want) > 1e-9 || !strings.Contains(f.Chosen, "material decomposition") {
		t.Errorf("report's filter %+v, want hann cut at %.4f chosen for the material decomposition", f, want)
	}
	compareVolumes(t, named.Output, j.Output)
	// A split job's bins are the offline job's: its coordinator corrects
	// the beam hardening too (before, it skipped the second pass).
	offline := named
	offline.Output, offline.Slabs = t.TempDir(), 0
	if _, err := Run(ctx, offline, Options{}); err != nil {
		t.Fatal(err)
	}
	compareVolumes(t, offline.Output, j.Output)
}

// A job run without an ID gets the same ID whether it names the filter's
// defaults or not (the command line named Ram-Lak at full band until its
// flags could be left unset), but for a decomposing job, whose filter not
// named is another reconstruction than Ram-Lak named.
func TestOfflineIDFillsFilterDefaults(t *testing.T) {
	plain := Job{Input: "scan", Volume: VolumeSpec{Dim: [3]int{64, 64, 4}}}
	named := plain
	named.Filter = FilterSpec{Window: "ram-lak", Cutoff: 1, Padding: 2}
	if plain.OfflineID() != named.OfflineID() {
		t.Errorf("no filter: ID %s, naming its defaults %s: want the same", plain.OfflineID(), named.OfflineID())
	}
	plain.Materials, named.Materials = []string{"water", "iodine"}, []string{"water", "iodine"}
	if plain.OfflineID() == named.OfflineID() {
		t.Errorf("a decomposing job without a filter has the ID %s of one naming Ram-Lak", plain.OfflineID())
	}
}
