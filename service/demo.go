package service

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/features/segment"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/search"
)

// Demo streams a simulated spectral scan through the service, as the
// scanner and a physicist would: it writes the scan into dir, submits a
// job for it, streams it while a worker reconstructs it, and writes to out
// where the DICOM series and pictures went, what a search over HTTP for
// the middle bin's series finds, a cohort query's answer and the URL of
// the search page showing that series' nearest. progress, if set, is given every status
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
	like := rep.Bins[len(rep.Bins)/2].SeriesInstanceUID
	// The index follows the FEATURES stream: the job is done before the
	// index holds its records, and those of one bin's series can come
	// after another's.
	for deadline := time.Now().Add(time.Minute); !s.indexed(ctx, like); time.Sleep(50 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the search index has not the feature records of series %s a minute after job %s was done", like, id)
		}
	}
	api := search.Client{URL: "http://" + s.addr, Token: s.token}
	_, a, err := api.Search(ctx, search.Query{Kind: features.KindHistHU, Like: like, K: 3})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "the 3 nearest to series %s (GET %s/search?kind=%s&like=%s&k=3):\n", like, api.URL, features.KindHistHU, like)
	if err := a.WriteTable(out); err != nil {
		return err
	}
	const cohort = "kind = 'objects-v1' and volume > 10"
	_, a, err = api.Search(ctx, search.Query{Filter: cohort, Limit: 5})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "a cohort: objects over 10 mm³ (GET %s/search?filter=%s):\n", api.URL, url.QueryEscape(cohort))
	if err := a.WriteTable(out); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "the search page, showing the series' nearest: %s/?like=%s\n", api.URL, url.QueryEscape(like))
	return err
}

// indexed reports whether the search library holds series' HU histogram
// and some objects, what the demo's queries ask for.
func (s *Service) indexed(ctx context.Context, series string) bool {
	if _, err := s.search.Search(ctx, search.Query{Kind: features.KindHistHU, Like: series, K: 1}); err != nil {
		return false
	}
	kinds, _ := s.search.Kinds(ctx)
	for _, k := range kinds {
		if k.Kind == segment.Kind {
			return k.Records > 0
		}
	}
	return false
}
