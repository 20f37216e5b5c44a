package recon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/orthanctest"
	"github.com/ctrecon/ctrecon/pacs"
	"github.com/ctrecon/ctrecon/scansim"
	"go.uber.org/goleak"
)

// simulated writes one small simulated spectral scan per test binary: the
// simulator's default phantom (30 mm of water with lipid, hydroxyapatite,
// iodine and gadolinium inserts) over 90 views.
var simulated = sync.OnceValues(func() (string, error) {
	dir, err := sharedTempDir("ctrecon-recon-test-")
	if err != nil {
		return "", err
	}
	spec := scansim.DefaultSpec()
	spec.Views = 90
	return dir, scansim.Simulate(dir, spec)
})

// sharedDirs are the folders made for the whole test binary, which
// TestMain removes: only those some test asked for, so that running one
// test (or a fuzz target) does not simulate and reconstruct a scan on exit.
var sharedDirs struct {
	sync.Mutex
	dirs []string
}

// sharedTempDir makes a folder that TestMain removes.
func sharedTempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		sharedDirs.Lock()
		sharedDirs.dirs = append(sharedDirs.dirs, dir)
		sharedDirs.Unlock()
	}
	return dir, err
}

// TestMain removes the shared scans and fails the run when goroutines
// outlive the tests: every worker, scan consumer, server and connection is
// stopped by then.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range sharedDirs.dirs {
		os.RemoveAll(dir)
	}
	if code == 0 {
		// nats.go v1.47 starts the first goroutine for an asynchronous
		// publish (the object store's) and, when the connection closes
		// first, leaves it blocked on a nil channel. The second is the chunk
		// handler of an object store Get, blocked on a pipe nobody reads
		// (seen in two runs of these tests on 2 busy cores). bus closes
		// every result it gets; most likely Get's ordered consumer timed
		// out on the loaded machine, the library returned the error
		// without the reader, and the consumer the server made anyway fed
		// the pipe. Both are the library's, not ours.
		if err := goleak.Find(
			goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
			goleak.IgnoreAnyFunction("github.com/nats-io/nats.go/jetstream.(*obs).Get.func2"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func scanDir(t *testing.T) string {
	t.Helper()
	dir, err := simulated()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func smallJob(t *testing.T) Job {
	return Job{ID: "t1", Input: scanDir(t), Output: t.TempDir(),
		Volume: VolumeSpec{Dim: [3]int{64, 64, 4}, VoxelMM: [3]float64{0.6, 0.6, 0.6}},
		Filter: FilterSpec{Window: "hann", Cutoff: 0.3}}
}

// The offline path, from raw counts to DICOM: in every bin's series, water
// (the 5 mm around the axis, inside the ring of inserts) reads 0 ± 20 HU
// (measured up to 11.8, beam hardening at 15-25 keV) and air just outside
// the phantom -1000 ± 12 HU (measured up to 4.3), read back from the DICOM
// files themselves; the report lists every bin and stage.
func TestRunWaterAndAirInEveryBin(t *testing.T) {
	job := smallJob(t)
	rep, err := Run(context.Background(), job, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Bins) != 5 {
		t.Fatalf("%d bins in the report, want 5", len(rep.Bins))
	}
	iodine, gadolinium := make([]float64, len(rep.Bins)), make([]float64, len(rep.Bins))
	for k, b := range rep.Bins {
		var water, air float64
		slices := readSeries(t, b)
		for _, s := range slices {
			n := float64(len(slices))
			water += ringMean(s.hu, s.cols, s.rows, 0.6, fdk.Vec3{}, 0, 5) / n
			air += ringMean(s.hu, s.cols, s.rows, 0.6, fdk.Vec3{}, 16.5, 18) / n
			iodine[k] += ringMean(s.hu, s.cols, s.rows, 0.6, fdk.Vec3{9, 0}, 0, 2) / n
			gadolinium[k] += ringMean(s.hu, s.cols, s.rows, 0.6, fdk.Vec3{0, 9}, 0, 2) / n
		}
		t.Logf("bin %d (%g-%g keV): water %.1f HU, air %.1f HU", b.Index, b.LowKeV, b.HighKeV, water, air)
		if !(math.Abs(water) <= 20) || !(math.Abs(air+1000) <= 12) {
			t.Errorf("bin %d: water %.1f HU (want 0 ± 20), air %.1f HU (want -1000 ± 12)", b.Index, water, air)
		}
	}
	t.Logf("iodine by bin %.0f HU, gadolinium %.0f HU", iodine, gadolinium)
	// K-edges: iodine 33.2 keV (between bins 1 and 2), gadolinium 50.2 keV
	// (between bins 2 and 3): each contrast agent attenuates most in the bin
	// just above its edge.
	if !(iodine[2] > 1.5*iodine[1]) || !(iodine[2] > iodine[3]) {
		t.Errorf("iodine does not peak above its K-edge: %.0f HU", iodine)
	}
	if !(gadolinium[3] > 1.5*gadolinium[2]) || !(gadolinium[3] > gadolinium[4]) {
		t.Errorf("gadolinium does not peak above its K-edge: %.0f HU", gadolinium)
	}
	for _, stage := range []string{"read", "preprocess", "filter", "backproject", "dicom", "preview"} {
		if _, ok := rep.Seconds[stage]; !ok {
			t.Errorf("report has no time for stage %q", stage)
		}
	}
	var onDisk Report
	data, err := os.ReadFile(filepath.Join(job.Output, "report.json"))
	if err != nil || json.Unmarshal(data, &onDisk) != nil || onDisk.StudyInstanceUID != rep.StudyInstanceUID {
		t.Errorf("report.json missing or different: %v", err)
	}
}

type slice struct {
	hu         []float64
	cols, rows int
}

// readSeries reads every slice of a bin's series.
func readSeries(t *testing.T, b BinReport) []slice {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(b.Dir, "*.dcm"))
	if len(files) != b.Files || len(files) == 0 {
		t.Fatalf("bin %d: %d files in %s, report says %d", b.Index, len(files), b.Dir, b.Files)
	}
	var out []slice
	for _, f := range files {
		hu, cols, rows, err := dicomio.ReadSliceHU(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, slice{hu, cols, rows})
	}
	return out
}

// ringMean returns the mean of a slice centred on the axis between radii
// r0 and r1 mm from c.
func ringMean(hu []float64, cols, rows int, pixel float64, c fdk.Vec3, r0, r1 float64) float64 {
	var sum float64
	n := 0
	for j := range rows {
		for i := range cols {
			r := math.Hypot((float64(i)-float64(cols-1)/2)*pixel-c[0], (float64(j)-float64(rows-1)/2)*pixel-c[1])
			if r >= r0 && r <= r1 {
				sum += hu[j*cols+i]
				n++
			}
		}
	}
	return sum / float64(n)
}

// A PACS that answers queries but keeps failing to store leaves the series
// on disk and says so in the report and the error: a partial upload is
// never silent.
func TestRunReportsFailedUpload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Write([]byte("[]"))
			return
		}
		http.Error(w, "disk full", http.StatusInsufficientStorage)
	}))
	defer srv.Close()
	job := smallJob(t)
	job.Bins, job.PACS = []int{2}, srv.URL+"/dicom-web"
	rep, err := Run(context.Background(), job, Options{})
	if !errors.Is(err, pacs.ErrPartial) {
		t.Fatalf("err = %v, want ErrPartial", err)
	}
	if rep.PACS == nil || rep.PACS.Failed != 4 || rep.PACS.Stored != 0 || !strings.Contains(rep.PACS.Errors[0], "disk full") {
		t.Errorf("report's upload section: %+v", rep.PACS)
	}
	if files, _ := filepath.Glob(filepath.Join(rep.Bins[0].Dir, "*.dcm")); len(files) != 4 {
		t.Errorf("%d files kept on disk, want 4", len(files))
	}
}

// A water region measured in the volume replaces the manifest's
// calibration and gives the same HU scale: within 0.5 % of the simulated
// value (measured +0.08 %).
func TestRunWaterROI(t *testing.T) {
	job := smallJob(t)
	job.Bins = []int{3}
	job.WaterROI = &Sphere{RadiusMM: 3}
	rep, err := Run(context.Background(), job, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := rep.Bins[0]
	t.Logf("measured water %.5f/mm from %s (%+.2f %% of the simulated 0.02087)", b.MuWater, b.MuWaterFrom, 100*(b.MuWater/0.02087-1))
	if b.MuWaterFrom != "water_roi" || math.Abs(b.MuWater/0.02087-1) > 0.005 {
		t.Errorf("measured water %.5f/mm from %s, want within 0.5%% of the simulated 0.02087", b.MuWater, b.MuWaterFrom)
	}
}

func TestJobErrorsNameTheField(t *testing.T) {
	good := `{"id":"j","input":"in","output":"out","volume":{"dim":[8,8,8]},"filter":{"window":"hann"}}`
	cases := map[string]string{
		strings.Replace(good, `"input":"in",`, ``, 1):                                                      "input",
		strings.Replace(good, `[8,8,8]`, `[8,0,8]`, 1):                                                     "volume.dim[1]",
		strings.Replace(good, `"hann"`, `"gauss"`, 1):                                                      "filter.window",
		strings.Replace(good, `"window":"hann"`, `"cutoff":1.5`, 1):                                        "filter.cutoff",
		strings.Replace(good, `"id":"j"`, `"id":"j","device":"tpu"`, 1):                                    "device",
		strings.Replace(good, `"id":"j"`, `"id":"j","bins":[1,1]`, 1):                                      "bins[1]",
		strings.Replace(good, `"id":"j"`, `"id":"j","voxels":2`, 1):                                        "voxels",
		strings.Replace(good, `[8,8,8]`, `[2147483648,2147483648,4]`, 1):                                   "volume.dim: 2147483648 x 2147483648 x 4",
		strings.Replace(good, `[8,8,8]`, `[10000,1,1],"voxel_mm":[1e305,1,1],"offset_mm":[-1e308,0,0]`, 1): "volume: invalid geometry: volume origin x",
		strings.Replace(good, `"id":"j"`, `"id":"j","bins":[0,1,2,3,4,5,6,7,8]`, 1):                        "bins: 9 bins",
		`{"id":`: "unexpected EOF",
	}
	for spec, want := range cases {
		_, err := ParseJob([]byte(spec))
		if !errors.Is(err, ErrJob) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want ErrJob naming %q", spec, err, want)
		}
	}
	if _, err := ParseJob([]byte(good)); err != nil {
		t.Errorf("good job rejected: %v", err)
	}
	job := smallJob(t)
	job.Bins = []int{7}
	if _, err := Run(context.Background(), job, Options{}); err == nil || !strings.Contains(err.Error(), "bin 7 does not exist") {
		t.Errorf("missing bin: err = %v", err)
	}
}

// A reconstructed study uploaded with --pacs is found in a real PACS
// (Orthanc on loopback) by its StudyInstanceUID, with every series and
// instance.
func TestRunUploadsToOrthanc(t *testing.T) {
	root := orthanctest.Start(t)
	job := smallJob(t)
	job.Bins, job.PACS = []int{1, 3}, root
	rep, err := Run(context.Background(), job, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PACS.Stored != 8 || rep.PACS.Failed != 0 {
		t.Fatalf("report: %+v", rep.PACS)
	}
	var series, instances []map[string]any
	orthanctest.GetJSON(t, root+"/studies/"+rep.StudyInstanceUID+"/series", &series)
	orthanctest.GetJSON(t, root+"/studies/"+rep.StudyInstanceUID+"/instances", &instances)
	if len(series) != 2 || len(instances) != 8 {
		t.Errorf("Orthanc has %d series and %d instances of study %s, want 2 and 8", len(series), len(instances), rep.StudyInstanceUID)
	}
}

// flakyPACS is a PACS on loopback that answers the first fail STOW-RS
// requests (POST) with 503 and passes everything else to Orthanc; it
// returns its DICOMweb root, Orthanc's root and a count of the POSTs.
func flakyPACS(t *testing.T, fail int) (root, orthanc string, posts *atomic.Int32) {
	orthanc = orthanctest.Start(t)
	target, err := url.Parse(orthanc)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	posts = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && int(posts.Add(1)) <= fail {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + target.Path, orthanc, posts
}

// A PACS that fails twice with 503 during the upload is retried: the
// study arrives whole, each retry is logged with its state (attempt,
// reason, wait, budget left) and the upload's progress is reported. Before,
// the retries were silent and the upload showed no progress.
func TestRunUploadRetriesTransientFailures(t *testing.T) {
	root, orthanc, posts := flakyPACS(t, 2)
	job := smallJob(t)
	job.Bins, job.PACS = []int{1, 3}, root
	var log bytes.Buffer
	var uploaded []int
	opts := Options{Log: slog.New(slog.NewTextHandler(&log, nil)), Progress: func(stage string, done, total int) {
		if stage == "upload" && total == 8 {
			uploaded = append(uploaded, done)
		}
	}}
	rep, err := Run(context.Background(), job, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.PACS.Stored != 8 || posts.Load() != 3 {
		t.Fatalf("report %+v after %d requests, want 8 stored after 3", rep.PACS, posts.Load())
	}
	var instances []map[string]any
	orthanctest.GetJSON(t, orthanc+"/studies/"+rep.StudyInstanceUID+"/instances", &instances)
	if len(instances) != 8 {
		t.Errorf("Orthanc has %d instances of the study, want 8", len(instances))
	}
	for i := range 2 {
		want := fmt.Sprintf("attempt %d failed (HTTP 503: restarting); attempt %d in ", i+1, i+2)
		if !strings.Contains(log.String(), want) || !strings.Contains(log.String(), "url="+root) {
			t.Errorf("the log does not say %q with the URL:\n%s", want, log.String())
		}
	}
	if len(uploaded) == 0 || uploaded[len(uploaded)-1] != 8 {
		t.Errorf("upload progress %v, want it to end at 8 of 8", uploaded)
	}
}

// The job's pacs_timeout_s bounds the upload's retries: with a budget
// shorter than the first wait, a PACS that keeps failing gets one request
// and the job fails at once, the series kept on disk. Before, the job had
// no such field and every request was retried 4 times.
func TestRunPACSTimeout(t *testing.T) {
	root, _, posts := flakyPACS(t, 1000)
	job := smallJob(t)
	job.Bins, job.PACS, job.PACSTimeoutS = []int{1}, root, 0.001
	var log bytes.Buffer
	rep, err := Run(context.Background(), job, Options{Log: slog.New(slog.NewTextHandler(&log, nil))})
	if !errors.Is(err, pacs.ErrPartial) || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("err = %v, want ErrPartial with the PACS's 503", err)
	}
	if posts.Load() != 1 || strings.Contains(log.String(), "retrying") || rep.PACS.Failed != 4 {
		t.Errorf("%d requests, report %+v, log:\n%s\nwant one request and no retry", posts.Load(), rep.PACS, log.String())
	}
	for _, bad := range []Job{{PACSTimeoutS: -1, PACS: root}, {PACSTimeoutS: 60}} {
		j := smallJob(t)
		j.PACS, j.PACSTimeoutS = bad.PACS, bad.PACSTimeoutS
		if err := j.Validate(); err == nil || !strings.Contains(err.Error(), "pacs_timeout_s") {
			t.Errorf("pacs %q, pacs_timeout_s %g: err = %v, want it to name the field", bad.PACS, bad.PACSTimeoutS, err)
		}
	}
}
