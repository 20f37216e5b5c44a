package recon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/bustest"
)

// gpuLike stands in for a GPU back-projector: anything that is not fdk.CPU.
type gpuLike struct{ fdk.CPU }

func (gpuLike) Name() string { return "cuda (stand-in)" }

// A job's device is honoured: auto runs on the worker's device, cpu on the
// CPU even where the worker has a GPU, and cuda is refused by a worker
// without one (retried for a worker with a GPU, then failed naming it).
func TestJobDevice(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{MaxDeliver: 2})
	ctx := context.Background()
	run := func(bp fdk.Backprojector, id, device string) bus.Status {
		t.Helper()
		w, stop := startWorker(t, b, t.TempDir())
		defer stop()
		w.Backprojector = bp
		job := smallJob(t)
		job.ID, job.Device = id, device
		if _, _, err := Submit(ctx, b, job); err != nil {
			t.Fatal(err)
		}
		return waitState(t, b, id, time.Minute)
	}
	for _, tc := range []struct {
		bp         fdk.Backprojector
		id, device string
		state      bus.State
		prefix     string
	}{
		{gpuLike{}, "dev-auto", "auto", bus.StateDone, "cuda"},
		{gpuLike{}, "dev-cpu", "cpu", bus.StateDone, "cpu"},
		{fdk.CPU{}, "dev-cuda", "cuda", bus.StateFailed, ""},
	} {
		st := run(tc.bp, tc.id, tc.device)
		switch {
		case st.State != tc.state:
			t.Errorf("device %s on %s: %s (%s), want %s", tc.device, tc.bp.Name(), st.State, st.Reason, tc.state)
		case tc.state == bus.StateDone && !strings.HasPrefix(st.Device, tc.prefix):
			t.Errorf("device %s on %s ran on %q, want %s", tc.device, tc.bp.Name(), st.Device, tc.prefix)
		case tc.state == bus.StateFailed && !strings.Contains(st.Reason, "device cuda"):
			t.Errorf("device cuda on a CPU worker failed with %q, want the device named", st.Reason)
		}
	}
}
