package recon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
)

// stowFails is a fake PACS that answers a QIDO-RS query (the job's check)
// with no studies and every STOW-RS request with HTTP status, and counts
// the STOW-RS requests.
func stowFails(t *testing.T, status int) (url string, posts *atomic.Int64) {
	posts = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Write([]byte("[]"))
			return
		}
		posts.Add(1)
		w.WriteHeader(status)
		w.Write([]byte("refused by the fake PACS\n"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, posts
}

// reconstructions returns how many times w's workers back-projected a
// job, from its stage metrics.
func reconstructions(t *testing.T, w *Worker) uint64 {
	t.Helper()
	var m dto.Metric
	if err := w.Metrics.Stages.WithLabelValues("backproject").(interface{ Write(*dto.Metric) error }).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// pacsJob is a small job that warns (a sharp filter under material maps)
// and uploads to url.
func pacsJob(t *testing.T, id, url string) Job {
	j := smallJob(t)
	j.ID, j.PACS, j.PACSTimeoutS = id, url, 1
	j.Materials, j.Filter = []string{"water", "iodine"}, FilterSpec{Window: "ram-lak", Cutoff: 1}
	return j
}

// A PACS that refuses the upload with HTTP 400 fails the job at its first
// delivery: reconstructed once, uploaded once, no retry. The failed status
// says why and carries the report's warnings, the device, full progress
// and the kept output; the report names the failed upload once; FEATURES
// holds none of its records, so no search points at series the PACS lacks.
func TestPACSRejectionFailsJobAtOnce(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	w, _ := startWorker(t, b, t.TempDir())
	url, posts := stowFails(t, http.StatusBadRequest)
	j := pacsJob(t, "pacs-400", url)
	if _, _, err := Submit(context.Background(), b, j); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, b, j.ID, 2*time.Minute)
	if st.State != bus.StateFailed || !strings.Contains(st.Reason, "HTTP 400") {
		t.Fatalf("status %+v, want failed for the PACS's HTTP 400", st)
	}
	if n := settled(w, OutcomeRetried); n != 0 {
		t.Errorf("%d deliveries retried, want none for a permanent HTTP 400", n)
	}
	if n := reconstructions(t, w); n != 1 {
		t.Errorf("reconstructed %d times, want once", n)
	}
	if !hasWarning(st.Warnings, "filter: ") {
		t.Errorf("failed status's warnings %q, want the report's filter warning", st.Warnings)
	}
	if st.Device == "" || st.Progress != 1 || st.Output != j.Output {
		t.Errorf("failed status: device %q, progress %g, output %q; want the device, 1 and %s", st.Device, st.Progress, st.Output, j.Output)
	}
	var out strings.Builder
	if err := WriteStatus(&out, st); err != nil || !strings.Contains(out.String(), "warning: filter: ") || !strings.Contains(out.String(), j.Output) {
		t.Errorf("WriteStatus of the failed job wrote %q (%v), want its output and warnings", out.String(), err)
	}
	if n := streamMessages(t, b, bus.StreamFeatures); n != 0 {
		t.Errorf("FEATURES holds %d records of a job whose upload failed, want none", n)
	}
	rep, err := ReadReport(j.Output)
	if err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(rep.Warnings, "pacs: upload incomplete"); n != 1 {
		t.Errorf("report warnings %q: %d about the upload, want 1", rep.Warnings, n)
	}
	if batches := (rep.PACS.Failed + 15) / 16; posts.Load() != int64(batches) {
		t.Errorf("%d STOW-RS requests, want one per batch of 16 instances: %d (a 400 is not retried)", posts.Load(), batches)
	}
}

// A PACS that answers 503 (transient) gets the job retried; every
// redelivery publishes the output the first committed, reconstructing
// nothing again; the report names the upload's failure once, with how many
// attempts gave it, and the retrying status carries the warnings.
func TestPACSOutageRetriesWithoutReconstructing(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	w, _ := startWorker(t, b, t.TempDir())
	url, _ := stowFails(t, http.StatusServiceUnavailable)
	j := pacsJob(t, "pacs-503", url)
	j.PACSTimeoutS = 0.2
	if _, _, err := Submit(context.Background(), b, j); err != nil {
		t.Fatal(err)
	}
	retrying := waitFor(t, b, j.ID, func(st bus.Status) bool {
		return st.State == bus.StateQueued && strings.HasPrefix(st.Reason, "retrying: ")
	})
	if !hasWarning(retrying.Warnings, "filter: ") {
		t.Errorf("retrying status's warnings %q, want the report's filter warning", retrying.Warnings)
	}
	st := waitState(t, b, j.ID, 3*time.Minute)
	if st.State != bus.StateFailed {
		t.Fatalf("status %+v, want failed after the last delivery", st)
	}
	retried := settled(w, OutcomeRetried)
	if retried < 1 {
		t.Fatalf("%d deliveries retried, want the job redelivered", retried)
	}
	if n := reconstructions(t, w); n != 1 {
		t.Errorf("reconstructed %d times in %d deliveries, want once", n, retried+1)
	}
	rep, err := ReadReport(j.Output)
	if err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(rep.Warnings, "pacs: upload incomplete"); n != 1 {
		t.Errorf("report warnings %q: %d about the upload, want 1", rep.Warnings, n)
	}
	if !hasWarning(rep.Warnings, "pacs: upload incomplete") || !strings.Contains(strings.Join(rep.Warnings, "\n"), "attempts") {
		t.Errorf("report warnings %q: want the upload's failure with its number of attempts", rep.Warnings)
	}
	if !hasWarning(st.Warnings, "filter: ") || st.Device == "" || st.Progress != 1 {
		t.Errorf("failed status %+v: want the filter warning, the device and progress 1", st)
	}
}

func hasWarning(warnings []string, prefix string) bool { return countPrefix(warnings, prefix) > 0 }

func countPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// A warning that attempts repeat is listed once, with how many attempts
// gave it; another text is listed on its own.
func TestRepeatWarning(t *testing.T) {
	rep := &Report{Warnings: []string{"filter: sharp", "pacs: down"}}
	rep.repeatWarning("pacs: down")
	rep.repeatWarning("pacs: down")
	rep.repeatWarning("pacs: refused")
	want := []string{"filter: sharp", "pacs: down (in 3 attempts)", "pacs: refused"}
	if !slices.Equal(rep.Warnings, want) {
		t.Errorf("warnings %q, want %q", rep.Warnings, want)
	}
}
