package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
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

// `submit JOB.json --nats URL --wait` submits to URL and waits for the job
// (here, until the test marks it done), and `status JOB_ID --nats URL`
// asks URL. Before, both flags were taken for file names: submit went to
// the default URL and did not wait, status refused three job IDs.
func TestSubmitFileThenFlags(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	job := filepath.Join(t.TempDir(), "job.json")
	if err := os.WriteFile(job, []byte(`{"id":"late-flags-1","scan_id":"S1","volume":{"dim":[8,8,8]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runSubmit([]string{job, "--nats", srv.ClientURL(), "--wait"}) }()
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
