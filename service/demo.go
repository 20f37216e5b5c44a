package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/index"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
)

// Demo streams a simulated spectral scan through the service, as the
// scanner and a physicist would: it writes the scan into dir, submits a
// job for it, streams it while a worker reconstructs it, and writes to out
// where the DICOM series and pictures went and what a search over HTTP for
// the middle bin's series finds. progress, if set, is given every status
// of the job.
func (s *Service) Demo(ctx context.Context, dir string, out io.Writer, progress func(bus.Status)) error {
	spec := scansim.DefaultSpec()
	spec.Views, spec.ScanID = 120, "DEMO-"+time.Now().UTC().Format("20060102-150405")
	fmt.Fprintf(out, "simulating a %d-view, %d-bin MARS scan in %s\n", spec.Views, len(spec.Thresholds), dir)
	os.RemoveAll(dir)
	if err := scansim.Simulate(dir, spec); err != nil {
		return err
	}
	job := recon.Job{ID: spec.ScanID, ScanID: spec.ScanID, Volume: recon.VolumeSpec{Dim: [3]int{96, 96, 16}, VoxelMM: [3]float64{0.4, 0.4, 0.4}},
		Filter: recon.FilterSpec{Window: "hann", Cutoff: 0.5}}
	id, _, err := recon.Submit(ctx, s.bus, job)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { _, err := recon.Acquire(ctx, s.bus, dir, recon.AcquireOptions{}); errc <- err }()
	fmt.Fprintf(out, "streaming scan %s while a worker reconstructs it (job %s)\n", spec.ScanID, id)
	st, err := recon.Wait(ctx, s.bus, id, progress)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "job %s done on %s: %s\n", id, st.Device, st.Output)
	if err := <-errc; err != nil {
		return err
	}
	rep, err := recon.ReadReport(st.Output)
	if err != nil {
		return err
	}
	for _, b := range rep.Bins {
		fmt.Fprintf(out, "  bin %d (%g-%g keV): %d DICOM slices in %s, preview %s\n", b.Index, b.LowKeV, b.HighKeV, b.Files, b.Dir, b.Preview)
	}
	fmt.Fprintf(out, "  montage of every bin's central slice in one window: %s\n", rep.Montage)
	for deadline := time.Now().Add(time.Minute); s.search.Len() == 0; time.Sleep(50 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the search index has no feature records a minute after job %s was done", id)
		}
	}
	like := rep.Bins[len(rep.Bins)/2].SeriesInstanceUID
	_, resp, err := Search(ctx, "http://"+s.addr, like, 3)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "the 3 nearest to series %s (GET /search?like=%s&k=3):\n", like, like)
	return resp.WriteTable(out)
}

// Search asks the service at server (http://host:port) for the k series or
// slices nearest to like (SERIES_UID or SERIES_UID:SLICE) and returns its
// JSON answer (see index.NewHandler) as sent and decoded.
func Search(ctx context.Context, server, like string, k int) ([]byte, *index.SearchResponse, error) {
	u := server + "/search?" + url.Values{"like": {like}, "k": {strconv.Itoa(k)}}.Encode()
	body, err := get(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	var resp index.SearchResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, nil, fmt.Errorf("GET %s: the answer is not a search answer: %w", u, err)
	}
	return body, &resp, nil
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
