package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/internal/progress"
	"github.com/ctrecon/ctrecon/recon"
)

// runSpectral runs the offline job for a spectral scan folder; set names
// the flags that set its fields, for its errors.
func runSpectral(job recon.Job, set flagFields, threads int) error {
	bp, release, err := backprojector(job.Device, threads)
	if err != nil {
		return err
	}
	defer release()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var bar *progress.Bar
	rep, err := recon.Run(ctx, job, recon.Options{Backprojector: bp, Progress: func(stage string, done, total int) {
		if bar == nil {
			bar = progress.New(os.Stderr, stage, "views", total)
		}
		bar.Set(done)
	}})
	if rep != nil && len(rep.Bins) > 0 {
		fmt.Printf("study %s: %d views into %v in %.2f s of back-projection (%.3f GUPS) on %s\n",
			rep.StudyInstanceUID, rep.Views, rep.Grid, rep.Seconds["backproject"], rep.GUPS, rep.Device)
		for _, b := range rep.Bins {
			fmt.Printf("  bin %d (%g-%g keV): %d slices in %s, water %.5f/mm from %s\n", b.Index, b.LowKeV, b.HighKeV, b.Files, b.Dir, b.MuWater, b.MuWaterFrom)
		}
		if rep.Montage != "" {
			fmt.Printf("  montage of every bin's central slice in one window: %s (previews preview_bin<k>.png beside it)\n", rep.Montage)
		}
		if rep.PACS != nil {
			fmt.Printf("  PACS %s: %d stored, %d failed\n", rep.PACS.URL, rep.PACS.Stored, rep.PACS.Failed)
		}
	}
	return set.name(err)
}

// intList parses "a,b,c" into non-negative integers; "" is an empty list.
func intList(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q: want comma-separated bin indices", s)
		}
		out = append(out, v)
	}
	return out, nil
}
