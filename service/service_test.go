package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/search"
)

// DELETE /jobs/{id} cancels a job waiting for its scan, saying who did,
// and frees the worker; a job that is over answers 409, an unknown one
// 404.
func TestHTTPCancel(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	s := startService(t, b)
	job := recon.Job{ID: "http-1", ScanID: "NEVER-1", Volume: recon.VolumeSpec{Dim: [3]int{8, 8, 8}}}
	if _, _, err := recon.Submit(ctx, b, job); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if st, _ := b.GetStatus(ctx, "http-1"); st.State == bus.StateWaiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job never waited for its scan")
		}
	}
	del := func(id string) (int, string) {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+s.addr+"/jobs/"+id+"?by=alice", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := del("http-1")
	var st bus.Status
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil || st.State != bus.StateCancelled || st.CancelledBy != "alice" {
		t.Errorf("DELETE: %d %s, want 200 and the job cancelled by alice", code, body)
	}
	for deadline := time.Now().Add(30 * time.Second); testutil.ToFloat64(s.workers[0].Metrics.Jobs.WithLabelValues(recon.OutcomeCancelled)) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker did not stop the cancelled job")
		}
	}
	if code, body := del("http-1"); code != http.StatusConflict || !strings.Contains(body, "cancelled") {
		t.Errorf("DELETE again: %d %s, want 409", code, body)
	}
	if code, _ := del("nobody"); code != http.StatusNotFound {
		t.Errorf("DELETE of an unknown job: %d, want 404", code)
	}
}

// startService starts a service with one CPU worker on b, serving HTTP on a
// free loopback port, and closes it when the test ends.
func startService(t *testing.T, b *bus.Bus) *Service {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(t.Context(), b, ln, Config{Dir: t.TempDir(), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// get returns the body of a GET of u, or an error naming the status.
func get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, body)
	}
	return body, nil
}

// The service serves the search API behind its token, with /openapi.json
// open, and a service started again on the same folder answers from the
// snapshot Close wrote, before anything new comes.
func TestSearchAPIAndRestart(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	dir := t.TempDir()
	start := func() *Service {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s, err := Start(t.Context(), b, ln, Config{Dir: dir, Workers: 1, SearchHTTP: search.HTTPOptions{Token: "tok"}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := start()
	for i, v := range [][]float32{{1, 0}, {0, 1}} {
		rec := records.Record{StudyUID: "1.2", SeriesUID: fmt.Sprintf("1.2.%d", i), Slice: -1, Kind: "hist-hu", Version: 1, Settings: "0123456789abcdef", Values: v}
		data, err := records.Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.PublishFeatures(t.Context(), rec.StudyUID, rec.SeriesUID, data, nil); err != nil {
			t.Fatal(err)
		}
	}
	api := search.Client{URL: "http://" + s.Addr(), Token: "tok"}
	total := func() int {
		_, a, err := api.Search(t.Context(), search.Query{Filter: "kind = 'hist-hu-v1'"})
		if err != nil {
			t.Fatal(err)
		}
		return *a.Total
	}
	for deadline := time.Now().Add(time.Minute); total() != 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the search API never held the 2 records")
		}
	}
	if _, err := get(t.Context(), api.URL+"/search/kinds"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("/search/kinds without the token: %v, want 401", err)
	}
	if _, err := get(t.Context(), api.URL+"/openapi.json"); err != nil {
		t.Errorf("/openapi.json: %v", err)
	}
	if a, err := search.AskNATS(t.Context(), b.Conn(), search.Query{Filter: "kind = 'hist-hu-v1'"}); err != nil || *a.Total != 2 {
		t.Errorf("the search over NATS: %+v, %v; want 2 records", a, err)
	}
	s.Close()
	var snap struct{ Seq uint64 }
	if data, err := os.ReadFile(filepath.Join(dir, "search", "snapshot", "snapshot.json")); err != nil || json.Unmarshal(data, &snap) != nil || snap.Seq != 2 {
		t.Errorf("Close left snapshot %+v (%v), want one through sequence 2", snap, err)
	}

	s = start()
	defer s.Close()
	api.URL = "http://" + s.Addr()
	if total() != 2 {
		t.Errorf("restarted with %d records, want the snapshot's 2", total())
	}
}

// GET /jobs/{id} and /jobs give a done job's output folder, its study,
// each bin's series and folder as the report has them, and its stage
// times in seconds ("timings_s", the report's own numbers). Before, the
// status had no UID and held its times in nanoseconds ("timings").
func TestHTTPJobShowsResults(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	s := startService(t, b)
	dir := t.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views, spec.Thresholds = 8, []float64{20, 40, 60}
	if err := scansim.Simulate(dir, spec); err != nil {
		t.Fatal(err)
	}
	job := recon.Job{ID: "http-results-1", Input: dir, Volume: recon.VolumeSpec{Dim: [3]int{32, 32, 4}}}
	if _, _, err := recon.Submit(t.Context(), b, job); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a hang guard
	defer cancel()
	st, err := recon.Wait(ctx, b, job.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := recon.ReadReport(st.Output)
	if err != nil {
		t.Fatal(err)
	}
	type series struct {
		Bin       int    `json:"bin"`
		SeriesUID string `json:"series_instance_uid"`
		Dir       string `json:"dir"`
	}
	type status struct {
		ID       string             `json:"id"`
		Output   string             `json:"output"`
		StudyUID string             `json:"study_instance_uid"`
		Series   []series           `json:"series"`
		Seconds  map[string]float64 `json:"timings_s"`
		Nanos    map[string]float64 `json:"timings"`
	}
	var one status
	var all []status
	getJSON(t, "http://"+s.Addr()+"/jobs/"+job.ID, &one)
	getJSON(t, "http://"+s.Addr()+"/jobs", &all)
	if len(all) != 1 {
		t.Fatalf("/jobs lists %d jobs, want 1", len(all))
	}
	for name, got := range map[string]status{"/jobs/{id}": one, "/jobs": all[0]} {
		if got.Output != rep.Job.Output || got.StudyUID != rep.StudyInstanceUID || len(got.Series) != len(rep.Bins) || got.Nanos != nil {
			t.Errorf("%s: %+v, want output %s, study %s, %d series and no nanoseconds", name, got, rep.Job.Output, rep.StudyInstanceUID, len(rep.Bins))
			continue
		}
		for i, b := range rep.Bins {
			if want := (series{b.Index, b.SeriesInstanceUID, b.Dir}); got.Series[i] != want {
				t.Errorf("%s: series %d is %+v, want %+v", name, i, got.Series[i], want)
			}
		}
		for stage, s := range rep.Seconds {
			key := stage
			if stage == "preprocess" || stage == "filter" || stage == "backproject" {
				key = "reconstruct." + stage
			}
			if got.Seconds[key] != s {
				t.Errorf("%s: timings_s[%s] = %v, want the report's %v s", name, key, got.Seconds[key], s)
			}
		}
	}
}

// getJSON decodes the JSON answer of GET url into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
}
