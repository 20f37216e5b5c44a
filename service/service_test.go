package service

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
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
	s := Start(t.Context(), b, ln, Config{Dir: t.TempDir(), Workers: 1})
	t.Cleanup(s.Close)
	return s
}
