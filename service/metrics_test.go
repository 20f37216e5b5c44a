package service

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
)

// scrape gathers the metrics the service serves at /metrics, as Prometheus
// would scrape them, for the client library's testutil to compare.
func scrape(t *testing.T, s *Service) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		body, err := get(t.Context(), "http://"+s.Addr()+"/metrics")
		if err != nil {
			return nil, err
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("GET /metrics: %w", err)
		}
		out := slices.Collect(maps.Values(fams))
		slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
		return out, nil
	})
}

// A streamed job done by the service's worker and a cancelled one show on
// /metrics: the jobs by outcome, the scan's 12 views × 2 bins frames, the
// feature vectors in the index, an empty queue, the device, a duration
// per stage the job went through, the build and the Go runtime. Before,
// /metrics was written by hand with the jobs, the index and the workers
// only.
func TestMetrics(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	s := startService(t, b)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	dir := filepath.Join(t.TempDir(), "scan")
	spec := scansim.DefaultSpec()
	spec.ScanID, spec.Views, spec.KVp, spec.Thresholds = "METRICS-1", 12, 80, []float64{20, 40}
	spec.Layout.ChipsX, spec.Phantom, spec.CalibrationWaterMM = 1, scansim.SpectralPhantom(8), 4
	if err := scansim.Simulate(dir, spec); err != nil {
		t.Fatal(err)
	}
	job := recon.Job{ID: "metrics-done", ScanID: spec.ScanID, Volume: recon.VolumeSpec{Dim: [3]int{16, 16, 2}, VoxelMM: [3]float64{0.3, 0.3, 0.3}}}
	if _, _, err := recon.Submit(ctx, b, job); err != nil {
		t.Fatal(err)
	}
	if _, err := recon.Acquire(ctx, b, dir, recon.AcquireOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := recon.Wait(ctx, b, job.ID, nil); err != nil {
		t.Fatal(err)
	}
	job = recon.Job{ID: "metrics-cancelled", ScanID: "NEVER-1", Volume: recon.VolumeSpec{Dim: [3]int{8, 8, 8}}}
	if _, _, err := recon.Submit(ctx, b, job); err != nil {
		t.Fatal(err)
	}
	if _, err := recon.Cancel(ctx, b, job.ID, "test"); err != nil {
		t.Fatal(err)
	}
	const vectors = 2 * (1 + 2) // per bin: the volume and each of its 2 slices
	waitMetric(t, s, `ctrecon_search_vectors{index="exact",kind="hist-hu-v1"}`, vectors)
	waitMetric(t, s, `ctrecon_jobs_total{outcome="cancelled"}`, 1)

	device := fdk.CPU{}.Name()
	want := fmt.Sprintf(`
# HELP ctrecon_jobs_total Jobs this process's workers settled, by outcome.
# TYPE ctrecon_jobs_total counter
ctrecon_jobs_total{outcome="cancelled"} 1
ctrecon_jobs_total{outcome="done"} 1
ctrecon_jobs_total{outcome="failed"} 0
ctrecon_jobs_total{outcome="retried"} 0
# HELP ctrecon_frames_received_total Projection frames the workers received from streamed scans, each frame of a job once.
# TYPE ctrecon_frames_received_total counter
ctrecon_frames_received_total 24
# HELP ctrecon_queue_depth Jobs in the work queue that no worker has taken yet.
# TYPE ctrecon_queue_depth gauge
ctrecon_queue_depth 0
# HELP ctrecon_workers Workers in this process, by the device they back-project on.
# TYPE ctrecon_workers gauge
ctrecon_workers{device=%[1]q} 1
# HELP ctrecon_jobs_running Jobs this process's workers are reconstructing, by the device each runs on.
# TYPE ctrecon_jobs_running gauge
ctrecon_jobs_running{device=%[1]q} 0
`, device)
	names := []string{"ctrecon_jobs_total", "ctrecon_frames_received_total", "ctrecon_queue_depth",
		"ctrecon_workers", "ctrecon_jobs_running"}
	if err := testutil.GatherAndCompare(scrape(t, s), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	checkStages(t, s, map[string]uint64{"preprocess": 1, "filter": 1, "backproject": 1, "dicom": 1, "upload": 0})
	for _, name := range []string{"go_build_info", "go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total"} {
		if n, err := testutil.GatherAndCount(scrape(t, s), name); err != nil || n == 0 {
			t.Errorf("%s: %d series (%v), want the standard collector's", name, n, err)
		}
	}
}

// checkStages checks that each stage's duration histogram has counted the
// jobs want says, with a positive sum where it counted any.
func checkStages(t *testing.T, s *Service, want map[string]uint64) {
	t.Helper()
	fams, err := scrape(t, s).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.Histogram{}
	for _, f := range fams {
		if f.GetName() != "ctrecon_stage_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" {
					got[l.GetValue()] = m.GetHistogram()
				}
			}
		}
	}
	for stage, n := range want {
		h := got[stage]
		switch {
		case h == nil:
			t.Errorf("no ctrecon_stage_duration_seconds{stage=%q}", stage)
		case h.GetSampleCount() != n || n > 0 && !(h.GetSampleSum() > 0):
			t.Errorf("stage %s: %d durations adding up to %g s, want %d", stage, h.GetSampleCount(), h.GetSampleSum(), n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("stages %v, want %v", got, want)
	}
}

// waitMetric waits up to a minute for the series (name and labels as the
// exposition writes them) to read want on /metrics.
func waitMetric(t *testing.T, s *Service, series string, want float64) {
	t.Helper()
	line := fmt.Sprintf("%s %g\n", series, want)
	var body []byte
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if body, err = get(t.Context(), "http://"+s.Addr()+"/metrics"); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(body, []byte("\n"+line)) {
			return
		}
	}
	t.Fatalf("/metrics never had %q:\n%s", line, body)
}
