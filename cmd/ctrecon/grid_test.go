package main

import (
	"bytes"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/internal/orthanctest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// readmeCommands returns the arguments of every phantom, recon and submit
// command in the README's sh blocks, in order, without "bin/ctrecon".
func readmeCommands(t *testing.T) [][]string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	blocks := strings.Split(string(data), "```sh\n")
	for _, b := range blocks[1:] {
		block, _, _ := strings.Cut(b, "```")
		for _, line := range strings.Split(block, "\n") {
			line, _, _ = strings.Cut(line, "#")
			for _, cmd := range strings.Split(line, ";") {
				args := strings.Fields(cmd)
				if len(args) > 1 && args[0] == "bin/ctrecon" && slices.Contains([]string{"phantom", "recon", "submit"}, args[1]) {
					out = append(out, args[1:])
				}
			}
		}
	}
	return out
}

// flagValue returns the value after flag in args, and its index.
func flagValue(args []string, flag string) (string, int) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 == len(args) {
		return "", -1
	}
	return args[i+1], i + 1
}

// Every volume the README's examples make covers the field of view of the
// scan it is made from and stays within it, with no field-of-view warning:
// the commands run as written, in order, through the functions the
// command line calls, but for 12 views instead of the README's 180
// (phantom --views), a real PACS on a free port for --pacs, and an
// embedded NATS server for submit (without --wait: no worker runs here;
// the job submit queued is given the grid the worker would give it on a
// scan simulated as acquire --simulate does). Each grid's extent spans
// at least 95 % of the field of view's diameter and height, and no voxel
// of it lies beyond the field of view (fdk.FOVReport.Fits, from the
// reconstructor's CheckFOV); the voxels of a grid spanning the cylinder's
// width that are outside it, its corners, are set to zero. Before, recon
// without --dim made 256³ voxels (76.8 mm across with --voxel 0.3) and
// submit's 128x128x32 voxels of the detector pitch spanned 9.4 mm.
func TestREADMEVolumesCoverFieldOfView(t *testing.T) {
	if testing.Short() {
		t.Skip("reconstructs the README's examples")
	}
	cmds := readmeCommands(t)
	t.Chdir(t.TempDir())
	var logged bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn})))
	var natsURL string
	var b *bus.Bus
	ran := map[string]int{}
	for _, args := range cmds {
		line := strings.Join(args, " ")
		ran[args[0]]++
		logged.Reset()
		switch args[0] {
		case "phantom":
			if _, i := flagValue(args, "--views"); i > 0 {
				args[i] = "12"
			}
			if err := runPhantom(args[1:]); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
		case "recon":
			if _, i := flagValue(args, "--pacs"); i > 0 {
				args[i] = orthanctest.Start(t)
			}
			stdout, _ := captureOutput(t, func() error { return runRecon(args[1:]) })
			in, _ := flagValue(args, "-i")
			out, _ := flagValue(args, "-o")
			rep, err := recon.ReadReport(out)
			if err != nil {
				t.Fatal(err)
			}
			scan, err := sinogram.ReadManifest(in)
			if err != nil {
				t.Fatal(err)
			}
			checkREADMEGrid(t, line, &scan.Geometry, rep.Grid, logged.String())
			if !strings.Contains(stdout, rep.Grid.String()) {
				t.Errorf("%s printed\n%s\nwithout its grid, %v", line, stdout, rep.Grid)
			}
		case "submit":
			if b == nil {
				var srv *bus.Embedded
				b, srv = bustest.Start(t, bus.Config{})
				natsURL = srv.ClientURL()
			}
			args = slices.DeleteFunc(args, func(a string) bool { return a == "--wait" })
			captureOutput(t, func() error { return runSubmit(append(args[1:], "--nats", natsURL)) })
			job := lastJob(t, b)
			sim, err := scansim.New(scansim.DefaultSpec())
			if err != nil {
				t.Fatal(err)
			}
			geom := &sim.Scan().Geometry
			grid, err := job.Grid(geom)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			checkREADMEGrid(t, line, geom, grid, logged.String())
		}
	}
	for _, cmd := range []string{"phantom", "recon", "submit"} {
		if ran[cmd] == 0 {
			t.Errorf("no %s command found in the README's sh blocks", cmd)
		}
	}
}

// checkREADMEGrid checks the grid of a README example on geom: it spans
// at least 95 % of the field of view along each axis, at least 95 % of
// its reconstruction cylinder (the one inscribed in its x-y extent; the
// box's corners outside it are zeroed, as in every CT image) lies inside
// the field of view, it fits inside the field of view but for those
// corners, and it was not warned about. Every view sees the field of view
// but the shallow cones at the rims of its ends (fdk.FieldOfView), so a
// little less of the grid is seen by every view; the log says how much.
func checkREADMEGrid(t *testing.T, line string, geom *fdk.Geometry, grid fdk.Grid, log string) {
	t.Helper()
	rec, err := fdk.New(geom, grid, 1, fdk.Options{Backprojector: fdk.CPU{}, KeepOutsideFOV: true})
	if err != nil {
		t.Fatal(err)
	}
	rep := rec.CheckFOV()
	rec.Abort()
	fov := rep.FieldOfView
	inside := cylinderInside(grid, fov)
	t.Logf("%s: %v; %.1f%% of its reconstruction cylinder inside the field of view (%v), %.0f%% seen by every view; fits: %v",
		line, grid, 100*inside, fov, 100*rep.CircleSeen(), rep.Fits())
	if inside < 0.95 {
		t.Errorf("%s: %v: %.1f%% of its reconstruction cylinder lies inside the field of view, %v; want at least 95%%", line, grid, 100*inside, fov)
	}
	span := [3]float64{2 * fov.Radius, 2 * fov.Radius, fov.ZMax - fov.ZMin}
	for k := range 3 {
		if ext := float64(grid.Dim[k]) * grid.Spacing[k]; ext < 0.95*span[k] {
			t.Errorf("%s: %v spans %.1f mm of the field of view's %.1f mm along axis %d", line, grid, ext, span[k], k)
		}
	}
	if !rep.Fits() {
		t.Errorf("%s: %v", line, rep)
	}
	if strings.Contains(log, "field of view") {
		t.Errorf("%s warned:\n%s", line, log)
	}
}

// cylinderInside returns the fraction of grid's voxels in its
// reconstruction cylinder whose centres lie inside the cylinder fov.
func cylinderInside(grid fdk.Grid, fov fdk.Cylinder) float64 {
	var in, all int
	half := 0.5 * min(float64(grid.Dim[0])*grid.Spacing[0], float64(grid.Dim[1])*grid.Spacing[1])
	centre := grid.Position(grid.Dim[0]-1, grid.Dim[1]-1, 0)
	o := grid.Position(0, 0, 0)
	cx, cy := (o[0]+centre[0])/2, (o[1]+centre[1])/2
	for k := range grid.Dim[2] {
		for j := range grid.Dim[1] {
			for i := range grid.Dim[0] {
				p := grid.Position(i, j, k)
				if math.Hypot(p[0]-cx, p[1]-cy) > half {
					continue
				}
				all++
				if math.Hypot(p[0], p[1]) <= fov.Radius && p[2] >= fov.ZMin && p[2] <= fov.ZMax {
					in++
				}
			}
		}
	}
	return float64(in) / float64(all)
}

// lastJob returns the job last queued on b.
func lastJob(t *testing.T, b *bus.Bus) *recon.Job {
	t.Helper()
	st, err := b.JetStream().Stream(t.Context(), bus.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(t.Context(), bus.SubjectJobs)
	if err != nil {
		t.Fatal(err)
	}
	job, err := recon.ParseJob(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// The command, recon --dim 96,96,48 on the simulated MARS scan,
// images the whole 30 mm phantom: the grid printed spans the field of view
// (37.7 mm across, 9.4 mm high), water reads 0 ± 50 HU around the axis
// and each of the four inserts 9 mm from it (iodine, gadolinium,
// hydroxyapatite, lipid) differs from water by more than 100 HU. Before,
// the voxel was the detector pitch at the isocentre and the volume 7 mm
// across: no insert in it.
func TestReconDimImagesPhantom(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a spectral scan")
	}
	dir := t.TempDir()
	if err := runPhantom([]string{"--spectral", "-o", dir + "/scan", "--views", "45"}); err != nil {
		t.Fatal(err)
	}
	out := dir + "/study"
	stdout, _ := captureOutput(t, func() error {
		return runRecon([]string{"-i", dir + "/scan", "-o", out, "--dim", "96,96,48", "--bins", "2", "--device", "cpu"})
	})
	if want := "96x96x48 voxels of 0.3929 x 0.3929 x 0.1956 mm (37.7 x 37.7 x 9.4 mm)"; !strings.Contains(stdout, want) {
		t.Errorf("recon printed\n%s\nwant the grid %q", stdout, want)
	}
	rep, err := recon.ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	// Discs about the axis and about the inserts (0.6 of the radius out,
	// 0.2 of it wide) in the slices within 3 mm of the middle. A flip or
	// a transpose of the slices maps the inserts onto each other.
	discs := []fdk.Vec3{{0, 0, 5}, {9, 0, 2}, {0, 9, 2}, {-9, 0, 2}, {0, -9, 2}} // x, y, radius in mm
	sums, counts := make([]float64, len(discs)), make([]int, len(discs))
	g := rep.Grid
	files, _ := filepath.Glob(filepath.Join(rep.Bins[0].Dir, "*.dcm"))
	for k, f := range files {
		if z := g.Origin[2] + float64(k)*g.Spacing[2]; math.Abs(z) > 3 {
			continue
		}
		hu, cols, rows, err := dicomio.ReadSliceHU(f)
		if err != nil {
			t.Fatal(err)
		}
		for j := range rows {
			for i := range cols {
				p := g.Position(i, j, k)
				for d, c := range discs {
					if v := hu[j*cols+i]; math.Hypot(p[0]-c[0], p[1]-c[1]) < c[2] && !math.IsNaN(v) {
						sums[d] += v
						counts[d]++
					}
				}
			}
		}
	}
	means := make([]float64, len(discs))
	for d := range discs {
		if counts[d] == 0 {
			t.Fatalf("no voxel of %v in the disc at %v", g, discs[d])
		}
		means[d] = sums[d] / float64(counts[d])
	}
	t.Logf("mean HU: water %.0f, inserts %.0f", means[0], means[1:])
	if math.Abs(means[0]) > 50 {
		t.Errorf("water reads %.0f HU, want 0 ± 50", means[0])
	}
	for d, m := range means[1:] {
		if math.Abs(m-means[0]) < 100 {
			t.Errorf("the insert at %v reads %.0f HU, water %.0f: not visible", discs[d+1], m, means[0])
		}
	}
}
