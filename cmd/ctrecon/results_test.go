package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/search"
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

// search prints its hits as a table, nearest first: rank, score (the
// distance), kind, study, series, bin, slice ("volume" for a whole
// volume), object and class, then how many hits and what served them;
// --json prints the service's JSON answer for programs. Before the search
// library, the table had no kind, object or class.
func TestSearchTableAndJSON(t *testing.T) {
	lib, err := search.Open(context.Background(), search.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	var recs []records.Record
	add := func(series string, bin, slice int, v ...float32) {
		recs = append(recs, records.Record{StudyUID: "1.2", SeriesUID: series, Bin: bin, Slice: slice, Kind: "hist-hu", Version: 1, Settings: "0123456789abcdef", Values: v})
	}
	add("1.2.1", 0, -1, 0, 0, 0, 10)
	for z := range 3 {
		add("1.2.1", 0, z, float32(z), 0, 0, 0)
	}
	add("1.2.2", 1, -1, 1, 0, 0, 2)
	if err := lib.Add(context.Background(), recs, 1); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(lib.Handler(search.HTTPOptions{}))
	defer srv.Close()
	args := []string{"--http", srv.URL, "--like", "1.2.1:1", "-k", "3"}
	table, _ := captureOutput(t, func() error { return runSearch(args) })
	want := [][]string{
		{"RANK", "SCORE", "KIND", "STUDY", "SERIES", "BIN", "SLICE", "OBJECT", "CLASS"},
		{"1", "1", "hist-hu-v1", "1.2", "1.2.1", "0", "0", "-", "-"},
		{"2", "1", "hist-hu-v1", "1.2", "1.2.1", "0", "2", "-", "-"},
		{"3", "2", "hist-hu-v1", "1.2", "1.2.2", "1", "volume", "-", "-"},
	}
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[len(want)], "3 hits, by exact in ") {
		t.Fatalf("search printed\n%s\nwant a header, 3 rows and a line of 3 hits by exact", table)
	}
	for i, line := range lines[:len(want)] {
		if !slices.Equal(strings.Fields(line), want[i]) {
			t.Errorf("line %d is %q, want %q", i, line, want[i])
		}
	}
	out, _ := captureOutput(t, func() error { return runSearch(append(args, "--json")) })
	var resp search.Answer
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("search --json printed %q: %v", out, err)
	}
	if len(resp.Hits) != 3 || resp.Hits[2].Rank != 3 || resp.Hits[2].Key != "1.2.2/b1" || resp.Index != "exact" {
		t.Errorf("search --json printed %s", out)
	}
	filtered, _ := captureOutput(t, func() error {
		return runSearch([]string{"--http", srv.URL, "--filter", "bin = 0 and slice >= 1", "--limit", "1"})
	})
	if !strings.Contains(filtered, "1 hits of 2, by sqlite") || !strings.Contains(filtered, "next page: --cursor ") {
		t.Errorf("search --filter printed\n%s\nwant 1 hit of 2 and a cursor", filtered)
	}
}
