package recon

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/sinogram"
)

// recorder back-projects on the CPU and records how many views each batch
// it is handed holds; with kernel set, it reports that as the device's
// back-projection time, as the CUDA back-end reports its kernels'.
type recorder struct {
	kernel  time.Duration
	mu      sync.Mutex
	batches []int
}

func (r *recorder) Name() string { return "recorder" }

func (r *recorder) Start(views []fdk.View, det fdk.Detector, grid fdk.Grid, bins int) (fdk.Accumulator, error) {
	acc, err := fdk.CPU{}.Start(views, det, grid, bins)
	return &recording{Accumulator: acc, r: r}, err
}

func (r *recorder) largest() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Max(append(r.batches, 0))
}

type recording struct {
	fdk.Accumulator
	r *recorder
}

func (a *recording) Add(batch []fdk.Filtered) error {
	a.r.mu.Lock()
	a.r.batches = append(a.r.batches, len(batch))
	a.r.mu.Unlock()
	return a.Accumulator.Add(batch)
}

func (a *recording) DeviceTimes() fdk.DeviceTimes { return fdk.DeviceTimes{Backproject: a.r.kernel} }

// plastimatchFolder writes the exact projections of a cylinder, 24 views
// of 32x16 pixels of 2 mm, as a plastimatch folder.
func plastimatchFolder(t *testing.T) string {
	t.Helper()
	g := &fdk.Geometry{SID: 600, SDD: 1200, Detector: fdk.Detector{Cols: 32, Rows: 16, PitchU: 2, PitchV: 2}}
	for i := range 24 {
		g.Angles = append(g.Angles, float64(i)*2*math.Pi/24)
	}
	ph, err := phantom.ByName("cylinder", 20)
	if err != nil {
		t.Fatal(err)
	}
	projs, err := ph.ProjectGeometry(g, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pfm")
	if err := sinogram.WritePlastimatch(dir, "img", &sinogram.Set{Geometry: *g, Projections: projs}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Run takes a plastimatch folder as well as a spectral scan: it writes the
// volume as .mha and its central slices as PNG, hands the back-projector
// batches of the job's size, and keeps what lies outside the field of
// view when the job asks. When the back-projector times its kernels, the
// report's speed is theirs and the summary names them. Before, only the
// CLI reconstructed plastimatch folders, and Run refused them.
func TestRunPlastimatch(t *testing.T) {
	dir, out := plastimatchFolder(t), t.TempDir()
	bp := &recorder{kernel: 2 * time.Second}
	job := Job{Input: dir, Output: filepath.Join(out, "vol.mha"), PNG: filepath.Join(out, "vol.png"), Batch: 5, KeepOutsideFOV: true,
		Volume: VolumeSpec{Dim: [3]int{40, 40, 4}, VoxelMM: [3]float64{1, 1, 1}}}
	rep, err := Run(context.Background(), job, Options{Backprojector: bp})
	if err != nil {
		t.Fatal(err)
	}
	vol, err := metaimage.Read(job.Output)
	if err != nil {
		t.Fatal(err)
	}
	if vol.Grid.Dim != [3]int{40, 40, 4} {
		t.Errorf("volume of %v voxels, want 40x40x4", vol.Grid.Dim)
	}
	if vol.At(0, 0, 0) == 0 { // (-19.5, -19.5) mm: 28 mm off the axis, which a 32 mm wide detector does not see in every view
		t.Error("the corner outside the field of view was zeroed: keep_outside_fov not honoured")
	}
	if decodePNG(t, job.PNG).Bounds().Dx() < 512 {
		t.Errorf("%s is not a preview", job.PNG)
	}
	if got := bp.largest(); got != 5 {
		t.Errorf("batches of up to %d views, want the job's 5", got)
	}
	gups := 40.0 * 40 * 4 * 24 / 2 / 1e9
	if math.Abs(rep.GUPS/gups-1) > 1e-9 || !strings.Contains(rep.Summary(), fmt.Sprintf("kernels 2.000 s = %.3f GUPS) on recorder", gups)) {
		t.Errorf("GUPS %g, summary %q: want %g from the kernels' 2 s", rep.GUPS, rep.Summary(), gups)
	}
}

// Fields a plastimatch folder cannot use are refused, naming them, before
// anything is written; so is a png for a spectral scan, which draws its
// own previews. Before, they were ignored.
func TestRunRefusesWhatTheInputCannotUse(t *testing.T) {
	dir, out := plastimatchFolder(t), t.TempDir()
	vol := VolumeSpec{Dim: [3]int{8, 8, 2}}
	for _, tc := range []struct {
		field string
		edit  func(j *Job)
	}{
		{"id", func(j *Job) { j.ID = "p1" }},
		{"bins", func(j *Job) { j.Bins = []int{0} }},
		{"water_roi", func(j *Job) { j.WaterROI = &Sphere{RadiusMM: 2} }},
		{"pacs", func(j *Job) { j.PACS = "http://127.0.0.1:1/dicom-web" }},
		{"patient_name", func(j *Job) { j.PatientName = "Doe^Jane" }},
		{"write_mha", func(j *Job) { j.WriteMHA = true }},
		{"output", func(j *Job) { j.Output = filepath.Join(out, "vol.nii") }},
		{"png", func(j *Job) { j.PNG = filepath.Join(out, "vol.jpg") }},
		{"png", func(j *Job) {
			j.Input, j.Output, j.PNG = scanDir(t), filepath.Join(out, "study"), filepath.Join(out, "vol.png")
		}},
	} {
		job := Job{Input: dir, Output: filepath.Join(out, "vol.mha"), Volume: vol, Device: "cpu"}
		tc.edit(&job)
		_, err := Run(context.Background(), job, Options{})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: err = %v, want it refused naming the field", tc.field, err)
		}
	}
	if names, _ := os.ReadDir(out); len(names) != 0 {
		t.Errorf("refused jobs wrote %v", names)
	}
}

// A spectral job's threads, batch and keep_outside_fov reach the
// reconstruction offline and on a worker: the CPU runs on the job's
// threads, the back-projector gets batches of the job's size, and the
// corners outside the field of view keep their values. Before, the job had
// no such fields, and recon's and submit's flags for them were dropped.
func TestJobSettingsReachTheReconstruction(t *testing.T) {
	job := smallJob(t)
	job.ID, job.Threads, job.Batch, job.KeepOutsideFOV, job.WriteMHA = "settings-1", 1, 7, true, true
	bp := &recorder{}
	if _, err := Run(context.Background(), job, Options{Backprojector: bp}); err != nil {
		t.Fatal(err)
	}
	if got := bp.largest(); got != 7 {
		t.Errorf("offline: batches of up to %d views, want the job's 7", got)
	}
	checkCornerKept(t, job.Output)

	b, _ := bustest.Start(t, bus.Config{})
	startWorker(t, b, t.TempDir())
	job.ID, job.Output = "settings-2", filepath.Join(t.TempDir(), "out")
	if _, _, err := Submit(context.Background(), b, job); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, b, job.ID, time.Minute)
	if st.State != bus.StateDone || st.Device != (fdk.CPU{Threads: 1}).Name() {
		t.Errorf("worker: job %s on %q (%s), want done on %s", st.State, st.Device, st.Reason, fdk.CPU{Threads: 1}.Name())
	}
	checkCornerKept(t, job.Output)
}

// checkCornerKept checks that the first bin's volume in the output folder
// dir has a value in its first corner, which lies outside the field of
// view.
func checkCornerKept(t *testing.T, dir string) {
	t.Helper()
	vol, err := metaimage.Read(filepath.Join(dir, "volume_bin0.mha"))
	if err != nil {
		t.Fatal(err)
	}
	if vol.At(0, 0, 0) == 0 {
		t.Errorf("%s: the corner outside the field of view was zeroed: keep_outside_fov not honoured", dir)
	}
}

// A plastimatch folder's job refuses an output volume or picture that
// exists, naming the field, and writes nothing: it never replaces a file
// (as a spectral job never writes into a folder that is not empty).
func TestRunPlastimatchKeepsExistingFiles(t *testing.T) {
	dir, out := plastimatchFolder(t), t.TempDir()
	mine := map[string]string{}
	for _, name := range []string{"user.mha", "user.png"} {
		mine[name] = filepath.Join(out, name)
		if err := os.WriteFile(mine[name], []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ field, output, png string }{
		{"output", mine["user.mha"], ""},
		{"png", filepath.Join(out, "new.mha"), mine["user.png"]},
	} {
		job := Job{Input: dir, Output: tc.output, PNG: tc.png, Volume: VolumeSpec{Dim: [3]int{8, 8, 2}}, Device: "cpu"}
		_, err := Run(context.Background(), job, Options{})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), "exists") {
			t.Errorf("%s: err = %v, want it refused naming the field", tc.field, err)
		}
	}
	for name, path := range mine {
		if data, _ := os.ReadFile(path); string(data) != "mine" {
			t.Errorf("%s was replaced", name)
		}
	}
	if names, _ := os.ReadDir(out); len(names) != 2 {
		t.Errorf("refused jobs wrote into %s: %v", out, names)
	}
}
