package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
)

// startWorker runs a CPU worker on b until the test ends.
func startWorker(t *testing.T, b *bus.Bus) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &recon.Worker{Bus: b, Dir: t.TempDir(), Backprojector: fdk.CPU{}}
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// submit --wait, status and jobs each print where a done job's results
// are: the output folder, the study, each bin's series and folder; and
// its stage times in seconds, the total counting each second once (the
// report's parts of reconstruct are in reconstruct's time). Before, they
// printed the output folder, the back-projection and a total that added
// the parts of reconstruct to it, and no UID.
func TestResultsShownByEveryCommand(t *testing.T) {
	_, scan := phantomScans(t)
	b, srv := bustest.Start(t, bus.Config{})
	startWorker(t, b)
	nats := []string{"--nats", srv.ClientURL()}
	waited, _ := captureOutput(t, func() error {
		return runSubmit(append(nats, "-i", scan, "--id", "results-1", "--dim", "32,32,4", "--wait"))
	})
	st, err := b.GetStatus(t.Context(), "results-1")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := recon.ReadReport(st.Output)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"output " + rep.Job.Output + "\n", "study " + rep.StudyInstanceUID + "\n"}
	for _, bin := range rep.Bins {
		want = append(want, fmt.Sprintf("bin %d (%g-%g keV): series %s, %d slices in %s\n", bin.Index, bin.LowKeV, bin.HighKeV,
			bin.SeriesInstanceUID, bin.Files, bin.Dir))
	}
	var total float64
	for stage, s := range rep.Seconds {
		if stage != "preprocess" && stage != "filter" && stage != "backproject" {
			total += s
		}
	}
	want = append(want, fmt.Sprintf("seconds: total %.2f = read %.2f + ", total, rep.Seconds["read"]),
		fmt.Sprintf(" + reconstruct %.2f (backproject %.2f, filter %.2f, preprocess %.2f) + ",
			rep.Seconds["reconstruct"], rep.Seconds["backproject"], rep.Seconds["filter"], rep.Seconds["preprocess"]))
	if len(rep.Bins) != 2 {
		t.Fatalf("%d bins in the report, want 2", len(rep.Bins))
	}
	status, _ := captureOutput(t, func() error { return runStatus(append(nats, "results-1")) })
	jobs, _ := captureOutput(t, func() error { return runJobs(nats) })
	for name, out := range map[string]string{"submit --wait": waited, "status": status, "jobs": jobs} {
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s printed\n%s\nwant %q in it", name, out, w)
			}
		}
	}
}
