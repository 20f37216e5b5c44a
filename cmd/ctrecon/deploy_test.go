package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/search"
	"github.com/nats-io/nats.go/jetstream"
)

// deployment returns the configuration of every stream on the server and
// of every durable consumer, by name.
func deployment(t *testing.T, b *bus.Bus) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	js := b.JetStream()
	got := map[string]any{}
	streams := js.ListStreams(ctx)
	for info := range streams.Info() {
		got["stream "+info.Config.Name] = info.Config
		s, err := js.Stream(ctx, info.Config.Name)
		if err != nil {
			t.Fatal(err)
		}
		consumers := s.ListConsumers(ctx)
		for ci := range consumers.Info() {
			if ci.Config.Durable != "" {
				got["consumer "+info.Config.Name+"/"+ci.Name] = ci.Config
			}
		}
		if err := consumers.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := streams.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// within runs f and fails the test if it has not returned after limit: a
// hang guard, not a timing assertion.
func within(t *testing.T, limit time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("%s still running after %v", what, limit)
		return nil
	}
}

// Every client command (status, jobs, submit, acquire, search, worker) on a
// three-node cluster set up with three replicas and a 2 s ack wait leaves
// every stream, consumer and bucket configuration as it was, and so does
// `ctrecon setup` without flags. Before, each client ran the set-up with
// its own flag defaults: one replica and a 30 s ack wait.
func TestClientsKeepDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-node cluster and runs a worker process")
	}
	bin := buildCtrecon(t)
	ctx := t.Context()
	_, urls := bustest.StartCluster(t, 3)
	if err := runSetup([]string{"--nats", urls, "--replicas", "3", "--ack-wait", "2s"}); err != nil {
		t.Fatal(err)
	}
	b, err := bus.Connect(ctx, urls)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	before := deployment(t, b)
	// JOBS, SCANS, FEATURES, the workers' consumer, and the buckets
	// JOBS_STATUS, PROJECTIONS and DEPLOYMENT (the pseudonymisation key).
	if len(before) != 7 {
		t.Fatalf("setup made %d streams and durable consumers, want 7: %v", len(before), before)
	}
	for name, c := range before {
		switch c := c.(type) {
		case jetstream.StreamConfig:
			if c.Replicas != 3 {
				t.Errorf("%s has %d replicas, want 3", name, c.Replicas)
			}
		case jetstream.ConsumerConfig:
			if c.Replicas != 3 || c.AckWait != 2*time.Second {
				t.Errorf("%s has %d replicas and ack wait %v, want 3 and 2s", name, c.Replicas, c.AckWait)
			}
		}
	}

	if err := runSetup([]string{"--nats", urls}); err != nil {
		t.Fatal(err)
	}
	out := smallJob(t, bin, urls, "keep-1")
	for name, run := range map[string]func([]string) error{"status": runStatus, "jobs": runJobs} {
		args := []string{"--nats", urls}
		if name == "status" {
			args = append(args, "keep-1")
		}
		if err := within(t, time.Minute, name, func() error { return run(args) }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// search asks the service over HTTP; the service follows FEATURES.
	lib, _ := followSearch(t, b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: lib.Handler(search.HTTPOptions{})}
	go srv.Serve(ln)
	defer srv.Close()
	rep, err := recon.ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); histVectors(t, lib) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the search index got no feature vectors")
		}
	}
	if err := runSearch([]string{"--http", "http://" + ln.Addr().String(), "--like", rep.Bins[0].SeriesInstanceUID, "-k", "2"}); err != nil {
		t.Fatal(err)
	}

	after := deployment(t, b)
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s was created", name)
		}
	}
	for name := range before {
		if !reflect.DeepEqual(before[name], after[name]) {
			t.Errorf("%s changed:\nbefore %+v\nafter  %+v", name, before[name], after[name])
		}
	}
}

// smallJob streams a small simulated scan to the deployment at url with
// `ctrecon acquire`, reconstructs it with `ctrecon submit --wait` and a
// `ctrecon worker` process, and returns the job's output folder.
func smallJob(t *testing.T, bin, url, id string) string {
	t.Helper()
	scan := t.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views = 24
	if err := scansim.Simulate(scan, spec); err != nil {
		t.Fatal(err)
	}
	worker, _ := startWorkerProcess(t, bin, url)
	defer func() { worker.Process.Kill(); worker.Wait() }()
	out := t.TempDir()
	steps := []struct {
		name string
		run  func([]string) error
		args []string
	}{
		{"acquire", runAcquire, []string{"-i", scan}},
		{"submit", runSubmit, []string{"--scan", spec.ScanID, "--id", id, "-o", out, "--dim", "32,32,4", "--voxel", "1", "--wait"}},
	}
	for _, s := range steps {
		if err := within(t, 3*time.Minute, s.name, func() error { return s.run(append([]string{"--nats", url}, s.args...)) }); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	return out
}

// Only the flags given reach the deployment's Config.
func TestDeployFlagsGiven(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bus.Config
	}{
		{nil, bus.Config{}},
		{[]string{"--replicas", "3"}, bus.Config{Replicas: 3}},
		{[]string{"--ack-wait", "2s"}, bus.Config{AckWait: 2 * time.Second}},
		{[]string{"--replicas", "1", "--ack-wait", "30s"}, bus.Config{Replicas: 1, AckWait: 30 * time.Second}},
	} {
		fs := flag.NewFlagSet("setup", flag.ContinueOnError)
		var d deployFlags
		d.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := d.config(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: config %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

// Clients against a server that nobody set up name the command that does.
func TestClientsNeedSetup(t *testing.T) {
	srv, err := bus.StartEmbedded(t.Context(), bus.EmbeddedOptions{DataDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	err = runJobs([]string{"--nats", srv.ClientURL()})
	if !errors.Is(err, bus.ErrNotSetUp) {
		t.Fatalf("err = %v, want bus.ErrNotSetUp", err)
	}
	for _, want := range []string{bus.StreamScans, "ctrecon serve", "ctrecon setup --nats"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// With no server at the URL, client commands fail soon, naming the URL,
// how to start a server and how to point at one. Before, they waited 30 s
// and printed a context deadline error.
func TestClientsNoServer(t *testing.T) {
	url := closedURL(t)
	scan := t.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views = 4
	if err := scansim.Simulate(scan, spec); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		run  func([]string) error
		args []string
	}{
		{"submit", runSubmit, []string{"--scan", "S1", "--dim", "8"}},
		{"jobs", runJobs, nil},
		{"status", runStatus, []string{"job-1"}},
		{"acquire", runAcquire, []string{"-i", scan}},
		{"setup", runSetup, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := within(t, time.Minute, tc.name, func() error { return tc.run(append([]string{"--nats", url}, tc.args...)) })
			if !errors.Is(err, bus.ErrUnreachable) {
				t.Fatalf("err = %v, want bus.ErrUnreachable", err)
			}
			for _, want := range []string{url, "ctrecon serve", "--nats"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
}

// A second serve on a port in use names the flag that changes it.
func TestServePortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats-port", port, "--http", "127.0.0.1:0"}, "--nats-port " + port},
		{[]string{"--nats-port", "-1", "--http", l.Addr().String()}, "--http " + l.Addr().String()},
	} {
		args := append([]string{"--data", t.TempDir(), "--device", "cpu"}, tc.args...)
		err := within(t, time.Minute, "serve", func() error { return runServe(args) })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: err = %v, want it to name %q", tc.args, err, tc.want)
		}
	}
}

// A job through a separately started nats-server process rather than the
// embedded one: `ctrecon setup`, acquire, submit and a worker process, one
// DICOM series per bin.
func TestJobOnExternalServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a worker process")
	}
	url := bustest.StartExternal(t, bustest.NATSServer(t))
	bin := buildCtrecon(t)
	if err := runSetup([]string{"--nats", url}); err != nil {
		t.Fatal(err)
	}
	out := smallJob(t, bin, url, "external-1")
	series, _ := filepath.Glob(filepath.Join(out, "dicom", "bin*"))
	if len(series) != 5 {
		t.Errorf("%d series written, want 5", len(series))
	}
}

// A server older than bus.MinServerVersion (Debian's 2.9.10) is refused at
// connect with the version needed, by clients and by setup alike. Before,
// a job failed part-way with "consumer filter subject is not a valid
// subset".
func TestOldServerRefused(t *testing.T) {
	bin, version := bustest.OldNATSServer(t)
	url := bustest.StartExternal(t, bin)
	for name, run := range map[string]func([]string) error{"setup": runSetup, "jobs": runJobs} {
		err := within(t, time.Minute, name, func() error { return run([]string{"--nats", url}) })
		if !errors.Is(err, bus.ErrServerVersion) {
			t.Errorf("%s: err = %v, want bus.ErrServerVersion", name, err)
			continue
		}
		for _, want := range []string{strings.TrimPrefix(version, "v"), bus.MinServerVersion} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %q", name, err, want)
			}
		}
	}
}

// acquire --simulate with no server at the URL fails naming it before it
// simulates anything (it simulated the whole scan, silently for 45 s,
// before connecting): nothing is written to the temporary folder.
func TestAcquireSimulateConnectsFirst(t *testing.T) {
	url := closedURL(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	err := within(t, time.Minute, "acquire", func() error { return runAcquire([]string{"--nats", url, "--simulate", "--views", "4"}) })
	if !errors.Is(err, bus.ErrUnreachable) || !strings.Contains(err.Error(), url) {
		t.Errorf("err = %v, want bus.ErrUnreachable naming %s", err, url)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("acquire simulated a scan (%s) before connecting", left[0].Name())
	}
}

// closedURL returns a NATS URL on loopback at which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "nats://" + l.Addr().String()
}
