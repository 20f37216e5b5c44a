package recon

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/internal/scantest"
	"github.com/ctrecon/ctrecon/sinogram"
)

// desc93 is a study description of 93 characters; DICOM's LO holds 64.
var desc93 = strings.Repeat("spectral ", 10) + "CT."

// editedScan returns a copy of the simulated scan whose scan.json went
// through edit; the frames are links to the original's.
func editedScan(t *testing.T, edit func(m map[string]any)) string {
	t.Helper()
	return scantest.EditedCopy(t, scanDir(t), edit)
}

// closedURL returns a loopback URL on which nothing listens.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String() + "/dicom-web"
}

// What would fail after the reconstruction fails before it, naming the
// field, folder or URL: no view is reconstructed, no DICOM written, no
// report; a job refused for its values does not even make its output
// folder.
func TestRunChecksBeforeReconstructing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pacsURL := closedURL(t)
	cases := []struct {
		name    string
		edit    func(t *testing.T, j *Job)
		mention []string
		noDir   bool // the output folder is not even made
	}{
		{"job study_description of 93 characters", func(t *testing.T, j *Job) { j.StudyDesc = desc93 },
			[]string{"study_description", "93 characters", "LO allows 64"}, true},
		{"job patient_id", func(t *testing.T, j *Job) { j.PatientID = strings.Repeat("7", 65) }, []string{"patient_id", "LO allows 64"}, true},
		{"job study_id", func(t *testing.T, j *Job) { j.StudyID = "STUDY-2026-000421" }, []string{"study_id", "SH allows 16"}, true},
		{"job patient_name", func(t *testing.T, j *Job) { j.PatientName = "Ngata^Aroha^^^^Jr" }, []string{"patient_name", "components"}, true},
		{"scan.json description of 93 characters", func(t *testing.T, j *Job) {
			j.Input = editedScan(t, func(m map[string]any) { m["study"] = map[string]any{"description": desc93} })
		}, []string{"scan.json", "study.description", "93 characters"}, true},
		{"bin the scan lacks", func(t *testing.T, j *Job) { j.Bins = []int{1, 7} }, []string{"bins[1]", "bin 7 does not exist"}, true},
		{"bin without water calibration", func(t *testing.T, j *Job) {
			j.Input = editedScan(t, func(m map[string]any) {
				delete(m["energy_bins"].([]any)[2].(map[string]any), "mu_water_per_mm")
			})
		}, []string{"water_roi", "bin 2", "energy_bins[2].mu_water_per_mm"}, true},
		{"water region outside the volume", func(t *testing.T, j *Job) { j.WaterROI = &Sphere{CenterMM: [3]float64{0, 0, 40}, RadiusMM: 3} },
			[]string{"water_roi", "no voxel"}, true},
		{"rows wider than DICOM holds", func(t *testing.T, j *Job) { j.Volume.Dim[0] = 70000 }, []string{"65535"}, true},
		{"unwritable output folder", func(t *testing.T, j *Job) { j.Output = filepath.Join(file, "out") }, []string{"output folder", file}, true},
		{"outputs larger than the free space", func(t *testing.T, j *Job) {
			// The largest grid fdk takes, 2^34 voxels: 500 GB of outputs
			// in five bins.
			j.Volume.Dim, j.WriteMHA = [3]int{4096, 4096, 1024}, true
			grid, err := j.Grid(nil)
			if err != nil {
				t.Fatal(err)
			}
			if free, ok := freeBytes(os.TempDir()); !ok || float64(free) > outputBytes(grid, 5, true) {
				t.Skipf("%d bytes free in %s: more than the largest outputs", free, os.TempDir())
			}
		}, []string{"output folder", "MB free", "need about"}, false},
		{"unreachable PACS", func(t *testing.T, j *Job) { j.PACS = pacsURL }, []string{pacsURL, "does not answer"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := smallJob(t)
			job.Output = filepath.Join(t.TempDir(), "out")
			c.edit(t, &job)
			views := 0
			_, err := Run(context.Background(), job, Options{Progress: func(stage string, done, total int) { views = done }})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, s := range c.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if views > 0 {
				t.Errorf("%d views reconstructed before the error", views)
			}
			for _, p := range []string{"dicom", "report.json"} {
				if _, err := os.Stat(filepath.Join(job.Output, p)); err == nil {
					t.Errorf("%s written", p)
				}
			}
			if _, err := os.Stat(job.Output); c.noDir && err == nil {
				t.Errorf("output folder %s made", job.Output)
			}
		})
	}
}

// checkOutput refuses a folder whose file system has less free space than
// the outputs need, and takes one with enough.
func TestCheckOutputSpace(t *testing.T) {
	dir := t.TempDir()
	free, ok := freeBytes(dir)
	if !ok {
		t.Skip("free space unknown on this system")
	}
	if err := checkSpace(dir, float64(free)+1e9); err == nil || !strings.Contains(err.Error(), "MB free") {
		t.Errorf("1 GB more than is free: %v", err)
	}
	if err := checkSpace(dir, 1e6); err != nil {
		t.Errorf("1 MB: %v", err)
	}
}

// Submit refuses, naming the field, a job whose values no DICOM file can
// hold, and a job for a streamed scan already on the bus that asks for a
// bin it lacks or whose manifest holds a 93-character description;
// nothing is queued. A job for a scan not on the bus yet is queued (the
// worker checks it before it reconstructs).
func TestSubmitChecksAgainstTheScan(t *testing.T) {
	b, _ := bustest.Start(t, bus.Config{})
	ctx := context.Background()
	manifest, err := os.ReadFile(filepath.Join(scanDir(t), sinogram.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PublishManifest(ctx, "SIM-0001", manifest); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(manifest, &m)
	m["scan_id"], m["study"] = "LONG-DESC", map[string]any{"description": desc93}
	long, _ := json.Marshal(m)
	if _, err := b.PublishManifest(ctx, "LONG-DESC", long); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		edit    func(j *Job)
		mention []string
	}{
		{"study_description of 93 characters", func(j *Job) { j.StudyDesc = desc93 }, []string{"study_description", "93 characters"}},
		{"bin the scan on the bus lacks", func(j *Job) { j.Bins = []int{5} }, []string{"bins[0]", "bin 5 does not exist: the scan has 5"}},
		{"manifest on the bus with a long description", func(j *Job) { j.ScanID = "LONG-DESC" },
			[]string{"LONG-DESC", "study.description", "93 characters"}},
	}
	for i, c := range cases {
		job := streamJob(t, "check-"+strings.Repeat("x", i+1))
		c.edit(&job)
		_, _, err := Submit(ctx, b, job)
		if err == nil {
			t.Errorf("%s: queued", c.name)
			continue
		}
		for _, s := range c.mention {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, s)
			}
		}
		if _, err := b.GetStatus(ctx, job.ID); !errors.Is(err, bus.ErrNotFound) {
			t.Errorf("%s: job %s has a status (%v): it was queued", c.name, job.ID, err)
		}
	}
	later := streamJob(t, "check-later")
	later.ScanID, later.Bins = "NOT-YET", []int{5}
	if _, _, err := Submit(ctx, b, later); err != nil {
		t.Errorf("job for a scan not on the bus yet: %v", err)
	}
}
