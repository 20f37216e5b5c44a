package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
)

// A misspelt command is named as unknown, with the closest commands, and
// exits 2. Before, ctrecon printed the usage and nothing about the word.
func TestUnknownCommand(t *testing.T) {
	for _, tc := range []struct {
		arg, want string
	}{
		{"recno", "did you mean recon?"},
		{"Serve", "did you mean serve?"},
		{"job", "did you mean jobs?"},
		{"sub", "did you mean submit?"},
		{"stat", "did you mean status?"},
		{"se", "did you mean serve, setup or search?"},
		{"xyzzy", ""},
	} {
		var stderr bytes.Buffer
		code := dispatch([]string{tc.arg, "--nats", "nats://127.0.0.1:1"}, &stderr)
		out := stderr.String()
		if code != 2 || !strings.HasPrefix(out, `ctrecon: unknown command "`+tc.arg+`"`+"\n") {
			t.Errorf("ctrecon %s: exit %d, stderr\n%s\nwant exit 2 and the command named unknown", tc.arg, code, out)
		}
		if tc.want != "" && !strings.Contains(out, "\n"+tc.want+"\n") || tc.want == "" && strings.Contains(out, "did you mean") {
			t.Errorf("ctrecon %s: stderr\n%s\nwant the suggestion %q", tc.arg, out, tc.want)
		}
		if !strings.Contains(out, "commands:") {
			t.Errorf("ctrecon %s: stderr\n%s\nwant the list of commands", tc.arg, out)
		}
	}
	for _, args := range [][]string{{"-h"}, {"help"}, {"--help", "recon"}} {
		var stderr bytes.Buffer
		if code := dispatch(args, &stderr); code != 0 || !strings.Contains(stderr.String(), "commands:") {
			t.Errorf("ctrecon %v: exit %d, stderr\n%s\nwant exit 0 and the usage", args, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := dispatch(nil, &stderr); code != 2 || !strings.Contains(stderr.String(), "commands:") {
		t.Errorf("ctrecon: exit %d, want 2 and the usage", code)
	}
}

// A flag the flag package refuses, or one of a single value given twice
// (which kept the last silently), is said once, in one line naming the
// command and the flag, and exits 2, the usage left to -h; `index -h` is
// help, not an error. Before, the error was printed a second time after
// the usage, exit 1; and then the whole usage followed the error.
func TestFlagErrorSaidOnce(t *testing.T) {
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"index", "bench", "--param", "ef"}, `ctrecon index: invalid value "ef" for flag -param: "ef": want NAME=VALUE`},
		{[]string{"index", "bench", "--seed", "abc"}, `ctrecon index: invalid value "abc" for flag -seed: parse error (ctrecon index bench -h lists the flags)`},
		{[]string{"recon", "--views", "x"}, "ctrecon recon: flag provided but not defined: -views (ctrecon recon -h lists the flags)"},
		{[]string{"index", "bench", "--vectors", "v.csv", "--index", "exact", "--metric", "foo"}, `ctrecon index: --metric: unknown metric "foo" (want euclidean, manhattan, cosine, jaccard, dm)`},
		{[]string{"recon", "-i", "scan1", "-o", "out", "-i", "scan2"}, `ctrecon recon: -i is given twice ("scan1", then "scan2"): it takes one value`},
		{[]string{"submit", "job.json", "--wait", "--id=a", "--id", "b"}, `ctrecon submit: --id is given twice ("a", then "b")`},
	} {
		var stderr bytes.Buffer
		code := dispatch(c.args, &stderr)
		if out := stderr.String(); code != 2 || !strings.HasPrefix(out, c.says) || strings.Count(out, "\n") != 1 {
			t.Errorf("ctrecon %v: exit %d, stderr\n%s\nwant exit 2 and one line saying %q", c.args, code, out, c.says)
		}
	}
	if code := dispatch([]string{"index", "-h"}, &bytes.Buffer{}); code != 0 {
		t.Errorf("ctrecon index -h: exit %d, want 0", code)
	}
}

// Flags may follow positional arguments, as the README writes `submit
// JOB.json --wait`; "--" ends the flags; a positional argument too many is
// an error naming it. Before, the flag package stopped at the first
// positional argument and took every flag after it for another one.
func TestFlagsAfterArguments(t *testing.T) {
	for _, tc := range []struct {
		args, positional []string
		wait             bool
		id, err          string
	}{
		{[]string{"job.json", "--wait", "--id", "j1"}, []string{"job.json"}, true, "j1", ""},
		{[]string{"--id", "j1", "job.json", "--wait"}, []string{"job.json"}, true, "j1", ""},
		{[]string{"--wait", "--", "--id"}, []string{"--id"}, true, "", ""},
		{[]string{"a.json", "--wait", "b.json"}, nil, false, "", `unexpected argument "b.json" after "a.json"`},
	} {
		fs := flag.NewFlagSet("submit", flag.ContinueOnError)
		wait, id := fs.Bool("wait", false, ""), fs.String("id", "", "")
		err := parseFlags(fs, tc.args, 1)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: err = %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(fs.Args(), tc.positional) || *wait != tc.wait || *id != tc.id {
			t.Errorf("%q: args %q, --wait %v, --id %q, err %v; want %q, %v, %q", tc.args, fs.Args(), *wait, *id, err, tc.positional, tc.wait, tc.id)
		}
	}
	out := filepath.Join(t.TempDir(), "p")
	err := runPhantom([]string{"-o", out, "--views", "4", "--det", "8x8", "stray"})
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "stray"`) {
		t.Errorf("phantom with a stray argument: err = %v, want it named", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("phantom with a stray argument wrote %s", out)
	}
}

// `submit JOB.json --nats URL --wait --id ID` submits to URL, under the ID
// given instead of the file's, and waits for the job (here, until the test
// marks it done), and `status JOB_ID --nats URL` asks URL. Before, the
// flags were taken for file names: submit refused more than one job file,
// status more than one job ID.
func TestSubmitFileThenFlags(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	job := filepath.Join(t.TempDir(), "job.json")
	if err := os.WriteFile(job, []byte(`{"id":"from-file","scan_id":"S1","volume":{"dim":[8,8,8]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runSubmit([]string{job, "--nats", srv.ClientURL(), "--wait", "--id", "late-flags-1"}) }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if st, err := b.GetStatus(t.Context(), "late-flags-1"); err == nil && st.State == bus.StateQueued {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("submit returned %v before the job was done", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the job never reached the server given with --nats")
		}
	}
	if _, err := b.PutStatus(t.Context(), bus.Status{ID: "late-flags-1", State: bus.StateDone, Progress: 1, Device: "cpu"}); err != nil {
		t.Fatal(err)
	}
	if err := within(t, time.Minute, "submit --wait", func() error { return <-done }); err != nil {
		t.Fatalf("submit --wait: %v", err)
	}
	if err := runStatus([]string{"late-flags-1", "--nats", srv.ClientURL()}); err != nil {
		t.Errorf("status JOB_ID --nats URL: %v", err)
	}
}

// An error about a job field set from a flag names the flag as typed
// (--voxel), not the job's JSON path (volume.voxel_mm[0]), in recon on a
// plastimatch folder and on a spectral scan and in submit, before any work
// and before submit connects (nothing listens at the URL). A job file's
// own fields keep their JSON names; a flag given with a file overrides its
// field and is named. Before, recon and submit named the JSON path, and
// recon on a plastimatch folder fdk's terms ("voxel spacing x = -1").
func TestJobFlagErrorsNameTheFlag(t *testing.T) {
	dir, scan := phantomScans(t)
	file := func(name, spec string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := file("good.json", `{"scan_id":"S1","volume":{"dim":8,"voxel_mm":0.5}}`)
	bad := file("bad.json", `{"scan_id":"S1","volume":{"dim":8,"voxel_mm":-1}}`)
	nowhere := []string{"--nats", "nats://127.0.0.1:1"}
	pfm := []string{"-i", dir + "/pfm", "-o", dir + "/x.mha", "--device", "cpu"}
	spectral := []string{"-i", scan, "-o", dir + "/out", "--dim", "8", "--device", "cpu"}
	for _, tc := range []struct {
		run       func([]string) error
		args      []string
		want, not string
	}{
		{runRecon, append(pfm, "--voxel", "-1"), "--voxel: must be positive", "spacing"},
		{runRecon, append(pfm, "--pad", "1"), "--pad: must be at least 2, got 1", "padding"},
		{runRecon, append(spectral, "--voxel", "0.5,-1,0.5"), "--voxel: must be positive", "voxel_mm"},
		{runRecon, append(spectral, "--cutoff", "1.5"), "--cutoff: must be in (0, 1], got 1.5", "filter.cutoff"},
		{runRecon, append(spectral, "--bins", "1,1"), "--bins: bin 1 listed twice", "bins["},
		{runRecon, append(spectral, "--bins", "7"), "--bins: bin 7 does not exist", "bins["},
		{runRecon, append(spectral, "--water-roi", "0,0,0,-1"), "--water-roi (radius_mm): must be positive", "water_roi"},
		{runRecon, append(spectral, "--materials", "iodine,barium"), `--materials: unknown material "barium"`, "invalid job: materials"},
		{runRecon, append(spectral, "--materials", "water,lipid,ha,iodine"), "--materials: material decomposition: too many materials: 4 materials (water, lipid, ha, iodine) need 4", "invalid job: materials"},
		{runCalibrate, spectral, "make_calibration: calibrate: the scan lists no vials", "--"},
		{runRecon, append(spectral, "--calibration", "c.json"), "--calibration: a calibration is for a decomposition", "invalid job: calibration"},
		{runSubmit, append(nowhere, "-i", scan, "--materials", "water,ha,iodine,gadolinium"), "--materials: material decomposition: too many materials: 4 materials", "invalid job: materials"},
		{runSubmit, append(nowhere, "--scan", "S1", "--voxel", "1,1,-3"), "--voxel: must be positive", "voxel_mm"},
		{runSubmit, append(nowhere, "-i", scan, "--bins", "4"), "--bins: bin 4 does not exist", "bins["},
		{runSubmit, append(nowhere, good, "--voxel", "-2"), "--voxel: must be positive", "voxel_mm"},
		{runSubmit, append(nowhere, bad), bad + ": invalid job: volume.voxel_mm[0]: must be positive", "--voxel"},
	} {
		err := tc.run(tc.args)
		if !errors.Is(err, recon.ErrJob) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.not) {
			t.Errorf("%q: err = %v, want recon.ErrJob saying %q and not %q", tc.args, err, tc.want, tc.not)
		}
	}
	if _, err := os.Stat(dir + "/out"); err == nil {
		t.Errorf("recon wrote %s", dir+"/out")
	}
}

// phantomScans writes two small scans into a temporary folder dir: the
// projections of a Shepp-Logan phantom as a plastimatch folder, dir/pfm
// (8 views of 16x8), and a simulated spectral scan, scan (8 views, 2 bins).
func phantomScans(t *testing.T) (dir, scan string) {
	t.Helper()
	dir = t.TempDir()
	if err := runPhantom([]string{"-o", dir + "/pfm", "--views", "8", "--det", "16x8"}); err != nil {
		t.Fatal(err)
	}
	scan = filepath.Join(dir, "scan")
	if err := runPhantom([]string{"--spectral", "-o", scan, "--views", "8", "--thresholds", "20,40"}); err != nil {
		t.Fatal(err)
	}
	return dir, scan
}

// Submitting a job ID that exists says so on stderr with the job's state
// from the status bucket, and queues nothing; stdout still has the ID.
// Before, the repeat was acknowledged with a log line that did not say
// where the job stood.
func TestSubmitExistingJob(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	args := []string{"--nats", srv.ClientURL(), "--scan", "S1", "--id", "dup-1", "--dim", "8"}
	if _, stderr := captureOutput(t, func() error { return runSubmit(args) }); strings.Contains(stderr, "exists") {
		t.Fatalf("first submit says the job exists:\n%s", stderr)
	}
	for _, tc := range []struct {
		status bus.Status
		want   string
	}{
		{bus.Status{ID: "dup-1", State: bus.StateQueued}, "job dup-1 exists already, not queued again: queued\n"},
		{bus.Status{ID: "dup-1", State: bus.StateRunning, Progress: 0.42, Device: "cpu (2 threads)"},
			"job dup-1 exists already, not queued again: running, 42% done on cpu (2 threads)\n"},
		{bus.Status{ID: "dup-1", State: bus.StateRunning, Progress: 0.25, Slabs: 4, SlabsDone: 1},
			"job dup-1 exists already, not queued again: running, 25% done, 1 of 4 slabs done\n"},
		{bus.Status{ID: "dup-1", State: bus.StateFailed, Reason: "scan S1: frame 3 of bin 0 is short"},
			"job dup-1 exists already, not queued again: failed: scan S1: frame 3 of bin 0 is short; give another --id to run it again\n"},
	} {
		if _, err := b.PutStatus(t.Context(), tc.status); err != nil {
			t.Fatal(err)
		}
		stdout, stderr := captureOutput(t, func() error { return runSubmit(args) })
		if stdout != "dup-1\n" || !strings.Contains(stderr, tc.want) {
			t.Errorf("submit again with the job %s: stdout %q, stderr\n%s\nwant the ID and %q", tc.status.State, stdout, stderr, tc.want)
		}
	}
	info, err := b.JetStream().Stream(t.Context(), bus.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("%d jobs queued, want the one", n)
	}
}

// captureOutput runs f with os.Stdout and os.Stderr going to pipes and
// returns what it wrote there; f must not fail.
func captureOutput(t *testing.T, f func() error) (stdout, stderr string) {
	t.Helper()
	read := func(w **os.File) func() string {
		r, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		saved := *w
		*w = pw
		out := make(chan string)
		go func() { data, _ := io.ReadAll(r); r.Close(); out <- string(data) }()
		return func() string { *w = saved; pw.Close(); return <-out }
	}
	doneOut, doneErr := read(&os.Stdout), read(&os.Stderr)
	err := f()
	stdout, stderr = doneOut(), doneErr()
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, stderr)
	}
	return stdout, stderr
}

// Every recon and submit flag reaches the job on every path or is refused
// naming it: recon on a spectral scan honours --threads, --batch and
// --keep-outside-fov as on a plastimatch folder (the report records them,
// the CPU runs on the threads, the DICOM has no padding outside the field
// of view); submit puts them in the job it queues; the spectral-only flags
// on a plastimatch folder, --png on a spectral scan and --scan-wait for a
// scan that is not streamed are errors, and nothing is written. Before,
// all of these were accepted and ignored.
func TestReconAndSubmitFlagsWorkOrAreRefused(t *testing.T) {
	dir, scan := phantomScans(t)
	err := runRecon([]string{"-i", scan, "-o", dir + "/out", "--dim", "40,40,2", "--voxel", "1", "--bins", "1", "--device", "cpu",
		"--threads", "1", "--batch", "5", "--keep-outside-fov"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := recon.ReadReport(dir + "/out")
	if err != nil {
		t.Fatal(err)
	}
	if j := rep.Job; j.Threads != 1 || j.Batch != 5 || !j.KeepOutsideFOV || rep.Device != "cpu (1 threads)" {
		t.Errorf("report: threads %d, batch %d, keep_outside_fov %v on %s; want 1, 5, true on cpu (1 threads)", j.Threads, j.Batch, j.KeepOutsideFOV, rep.Device)
	}
	// The corner is 28 mm off the axis, outside the field of view.
	if hu, _, _, err := dicomio.ReadSliceHU(filepath.Join(rep.Bins[0].Dir, "IM_0001.dcm")); err != nil || math.IsNaN(hu[0]) {
		t.Errorf("--keep-outside-fov: the corner voxel is padding (%v)", err)
	}

	pfm := []string{"-i", dir + "/pfm", "-o", dir + "/x.mha", "--device", "cpu", "--dim", "8"}
	nowhere := []string{"--nats", "nats://127.0.0.1:1"}
	for _, tc := range []struct {
		run  func([]string) error
		args []string
		want string
	}{
		{runRecon, append(pfm, "--bins", "1"), "--bins: only a spectral scan"},
		{runRecon, append(pfm, "--water-roi", "0,0,0,5"), "--water-roi: only a spectral scan"},
		{runRecon, append(pfm, "--pacs", "http://127.0.0.1:1/dicom-web"), "--pacs: only a spectral scan"},
		{runRecon, append(pfm, "--id", "p1"), "--id: only a spectral scan"},
		{runRecon, []string{"-i", scan, "-o", dir + "/out2", "--dim", "8", "--device", "cpu", "--png", dir + "/x.png"}, "--png: only a plastimatch folder"},
		{runSubmit, append(nowhere, "-i", scan, "--scan-wait", "5m"), "--scan-wait: only a job for a streamed scan"},
	} {
		if err := tc.run(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	for _, name := range []string{"x.mha", "x.png", "out2"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("a refused command wrote %s", name)
		}
	}

	b, srv := bustest.Start(t, bus.Config{})
	err = runSubmit([]string{"--nats", srv.ClientURL(), "--scan", "S1", "--id", "flags-1", "--threads", "3", "--batch", "4", "--keep-outside-fov"})
	if err != nil {
		t.Fatal(err)
	}
	queued, err := b.PullJob(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	job, err := recon.ParseJob(queued.Spec)
	if err != nil || job.Threads != 3 || job.Batch != 4 || !job.KeepOutsideFOV {
		t.Errorf("submit queued %s (%v), want threads 3, batch 4, keep_outside_fov", queued.Spec, err)
	}
}

// A flag that the command, as invoked, does not use is an error naming it,
// before anything is written or any server is asked: phantom --spectral
// takes no analytic phantom's shape, detector or noise flags, and a
// projection phantom no energy thresholds; acquire -i streams a scan whose
// views are its own; serve --nats URL starts no embedded server on
// --nats-port; --workers 0 (serve ran one, worker none). Before, each
// was accepted and ignored.
func TestFlagsNotUsedAreRefused(t *testing.T) {
	dir := t.TempDir()
	nowhere := []string{"--nats", "nats://127.0.0.1:1"}
	for _, tc := range []struct {
		run  func([]string) error
		args []string
		want string
	}{
		{runPhantom, []string{"--spectral", "-o", dir + "/s", "--views", "4", "--det", "64x64"}, "--det: not used by --spectral"},
		{runPhantom, []string{"--spectral", "-o", dir + "/s", "--views", "4", "--tilt", "1"}, "--tilt: not used by --spectral"},
		{runPhantom, []string{"-o", dir + "/p", "--views", "4", "--det", "8x8", "--thresholds", "20,40"}, "--thresholds: only with --spectral"},
		{runAcquire, append(nowhere, "-i", dir+"/s", "--views", "90"), "--views: only with --simulate"},
		{runServe, append(nowhere, "--nats-port", "-1", "--http", "127.0.0.1:0", "--data", dir+"/serve"), "--nats-port: the embedded server's port"},
		{runServe, append(nowhere, "--workers", "0", "--http", "127.0.0.1:0", "--data", dir+"/serve"), "--workers 0: must be at least 1"},
		{runWorker, append(nowhere, "--workers", "0", "--data", dir+"/worker"), "--workers 0: must be at least 1"},
	} {
		if err := tc.run(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.args, err, tc.want)
		}
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("refused commands wrote %v", names)
	}
}
