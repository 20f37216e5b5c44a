package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
)

// recon --materials without --filter and --cutoff reconstructs with the
// Hann window the job chooses at its voxels' band, said in the report
// (and the log: recon.TestMaterialJobChoosesFilter) and not warned of; with --filter ram-lak given it keeps Ram-Lak and warns
// that it aliases. Before, the flag's default was ram-lak, so the two
// could not be told apart and both aliased.
func TestReconMaterialsFilterFlag(t *testing.T) {
	_, scan := phantomScans(t)
	for i, c := range []struct {
		flags  []string
		window string
		chosen bool
	}{
		{nil, "hann", true},
		{[]string{"--filter", "ram-lak"}, "ram-lak", false},
	} {
		out := filepath.Join(t.TempDir(), fmt.Sprint("out", i))
		args := append([]string{"-i", scan, "-o", out, "--materials", "water,iodine"}, append(smallVolume, c.flags...)...)
		captureOutput(t, func() error { return runRecon(args) })
		rep, err := recon.ReadReport(out)
		if err != nil {
			t.Fatal(err)
		}
		if f := rep.Filter; f == nil || f.Window != c.window || (f.Chosen != "") != c.chosen {
			t.Errorf("%q: report's filter %+v, want %s, chosen: %v", c.flags, f, c.window, c.chosen)
		}
		warned := slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.HasPrefix(w, "filter: ") })
		if warned == c.chosen {
			t.Errorf("%q: warnings %q, want a filter warning: %v", c.flags, rep.Warnings, !c.chosen)
		}
	}
}

// submit sends a job without a filter when --filter and --cutoff are not
// given, so that the worker chooses one for a decomposing job, and the
// window or cut-off given when they are, ram-lak included.
func TestSubmitFilterFlags(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	for i, c := range []struct {
		flags []string
		want  recon.FilterSpec
	}{
		{nil, recon.FilterSpec{Padding: 2}},
		{[]string{"--filter", "ram-lak"}, recon.FilterSpec{Window: "ram-lak", Padding: 2}},
		{[]string{"--cutoff", "1"}, recon.FilterSpec{Cutoff: 1, Padding: 2}},
	} {
		args := append([]string{"--nats", srv.ClientURL(), "--scan", "S1", "--id", fmt.Sprint("filter-", i), "--dim", "8", "--materials", "water,iodine"}, c.flags...)
		if _, stderr := captureOutput(t, func() error { return runSubmit(args) }); stderr != "" {
			t.Logf("submit %q: %s", c.flags, stderr)
		}
		if got := lastJob(t, b).Filter; got != c.want {
			t.Errorf("submit %q: job's filter %+v, want %+v", c.flags, got, c.want)
		}
	}
}
