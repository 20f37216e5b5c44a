package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
)

// A materials job run by a worker says in its status, and submit --wait
// and status print, the calibration it used, each material's series with
// its unit, folder and noise, and every warning of its report: here the
// noise warning of a scan at the simulator's default dose (20 000
// open-beam counts) reconstructed with Ram-Lak at full band (named: the
// default Hann window at the voxels' band brings the noise under the
// limit). Before, the status listed only the bins' series, and
// the warning was only in report.json on the worker's disk. submit --mha
// has the worker write the bins and maps as .mha volumes too.
func TestMaterialsJobStatusShowsMapsAndWarnings(t *testing.T) {
	_, scan := phantomScans(t)
	b, srv := bustest.Start(t, bus.Config{})
	startWorker(t, b)
	nats := []string{"--nats", srv.ClientURL()}
	waited, _ := captureOutput(t, func() error {
		return runSubmit(append(nats, "-i", scan, "--id", "materials-1", "--dim", "32,32,4",
			"--materials", "water,iodine", "--filter", "ram-lak", "--mha", "--wait"))
	})
	st, err := b.GetStatus(t.Context(), "materials-1")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := recon.ReadReport(st.Output)
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Materials
	if m == nil || len(m.Maps) != 2 {
		t.Fatalf("report's materials %+v: want 2 maps", m)
	}
	noisy := ""
	for _, w := range rep.Warnings {
		if strings.Contains(w, "dominated by noise") {
			noisy = w
		}
	}
	if noisy == "" {
		t.Fatalf("report's warnings %q: want the noise warning of a scan at the default dose", rep.Warnings)
	}
	for _, name := range []string{"volume_bin0.mha", "material_iodine.mha"} {
		if _, err := os.Stat(filepath.Join(st.Output, name)); err != nil {
			t.Errorf("submit --mha: %v", err)
		}
	}
	if st.Materials == nil || st.Materials.Calibration != m.Calibration || len(st.Materials.Maps) != len(m.Maps) {
		t.Errorf("status's materials %+v, want the report's calibration %s and its %d maps", st.Materials, m.Calibration, len(m.Maps))
	}
	if len(st.Warnings) != len(rep.Warnings) {
		t.Errorf("status's warnings %q, want the report's %q", st.Warnings, rep.Warnings)
	}
	want := []string{fmt.Sprintf("materials: calibration %s (%s)\n", m.Calibration, m.Source), "warning: " + noisy + "\n"}
	for _, mr := range m.Maps {
		if mr.NoiseSD <= 0 {
			t.Errorf("%s: noise %g not measured", mr.Material, mr.NoiseSD)
		}
		want = append(want, fmt.Sprintf("material %s (%s): series %s, %d slices in %s, noise %.3g %s per voxel (limit %.3g)\n",
			mr.Material, mr.Unit, mr.SeriesInstanceUID, len(mr.Instances), mr.Dir, mr.NoiseSD, mr.Unit, mr.NoiseLimit))
	}
	status, _ := captureOutput(t, func() error { return runStatus(append(nats, "materials-1")) })
	for name, out := range map[string]string{"submit --wait": waited, "status": status} {
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s printed\n%s\nwant %q in it", name, out, w)
			}
		}
	}
}

// A job whose PACS refuses the upload (HTTP 400 to STOW-RS, 200 to the
// check's query) fails, and submit --wait and jobs show it as the user's
// trial wanted: submit --wait prints the kept output and the report's
// warnings before its error, and jobs lists the job failed at 100% on its
// device, not "0%" with no device.
func TestFailedUploadJobShownWithItsWarnings(t *testing.T) {
	_, scan := phantomScans(t)
	b, srv := bustest.Start(t, bus.Config{})
	startWorker(t, b)
	stow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
		}
		w.Write([]byte("[]"))
	}))
	t.Cleanup(stow.Close)
	nats := []string{"--nats", srv.ClientURL()}
	var err error
	waited, _ := captureOutput(t, func() error {
		err = runSubmit(append(nats, "-i", scan, "--id", "fail-3", "--dim", "32,32,4",
			"--materials", "water,iodine", "--pacs", stow.URL, "--pacs-timeout", "1s", "--wait"))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Fatalf("submit --wait: err %v, want the job's failure for HTTP 400", err)
	}
	st, gerr := b.GetStatus(t.Context(), "fail-3")
	if gerr != nil {
		t.Fatal(gerr)
	}
	if !strings.Contains(waited, "  output "+st.Output) || !strings.Contains(waited, "  warning: ") {
		t.Errorf("submit --wait printed %q: want the kept output %s and the report's warnings", waited, st.Output)
	}
	listed, _ := captureOutput(t, func() error { return runJobs(nats) })
	line := ""
	for l := range strings.Lines(listed) {
		if strings.HasPrefix(l, "fail-3 ") {
			line = l
		}
	}
	if f := strings.Fields(line); len(f) < 4 || f[1] != "failed" || f[2] != "100%" || st.Device == "" || !strings.Contains(line, "100%  "+st.Device+" ") {
		t.Errorf("jobs listed %q: want fail-3 failed 100%% on its device %q", line, st.Device)
	}
}
