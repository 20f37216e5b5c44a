package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
)

// DELETE /jobs/{id} cancels a job waiting for its scan, saying who did,
// and frees the worker; a job that is over answers 409, an unknown one
// 404.
func TestHTTPCancel(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	n := natsFlags{url: srv.ClientURL()}
	s, err := startService(ctx, &n, bus.Config{}, t.TempDir(), "127.0.0.1:0", workerFlags{workers: 1, device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
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
	for deadline := time.Now().Add(30 * time.Second); s.workers[0].Cancelled.Load() != 1; time.Sleep(20 * time.Millisecond) {
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
