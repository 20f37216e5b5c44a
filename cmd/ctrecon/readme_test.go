package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/recon"
)

// The README's service example works as written: its lines run in order
// against a real embedded server. Only the addresses change, so that the
// test runs beside others: serve gets --nats-port -1 and --http
// 127.0.0.1:0, the other commands the URLs serve printed, curl the HTTP
// address, and SERIES_UID is a series of the first job's report.
func TestREADMEServiceExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and streams a whole simulated scan")
	}
	bin := buildCtrecon(t)
	work := t.TempDir()
	var natsURL, httpAddr string
	for _, line := range readmeBlock(t, "### The service") {
		line, _, _ = strings.Cut(line, "#")
		for _, cmdline := range strings.Split(line, ";") {
			args := strings.Fields(cmdline)
			if len(args) == 0 {
				continue
			}
			if args[0] == "curl" {
				curl(t, httpAddr, args[1:])
				continue
			}
			if args[0] != "bin/ctrecon" {
				t.Fatalf("README line %q: not a ctrecon or curl command", cmdline)
			}
			args = args[1:]
			if (args[0] == "serve") != (args[len(args)-1] == "&") {
				t.Fatalf("README line %q: serve, and only serve, runs in the background", cmdline)
			}
			if args[0] == "serve" {
				natsURL, httpAddr = startServe(t, bin, work, append(args[:len(args)-1], "--nats-port", "-1", "--http", "127.0.0.1:0"))
				continue
			}
			conn := []string{"--nats", natsURL}
			if args[0] == "search" {
				conn = []string{"--http", "http://" + httpAddr}
			}
			args = append(append([]string{args[0]}, conn...), args[1:]...)
			out := runReadmeCommand(t, bin, work, args)
			checkReadmeOutput(t, args[0], out)
		}
	}
	var jobs []bus.Status
	if err := json.Unmarshal(curl(t, httpAddr, []string{"127.0.0.1:8080/jobs"}), &jobs); err != nil {
		t.Fatal(err)
	}
	want := map[string]bus.State{"recon-1": bus.StateDone, "recon-2": bus.StateDone, "recon-3": bus.StateCancelled}
	for _, st := range jobs {
		if st.State != want[st.ID] {
			t.Errorf("job %s ended %s (%s), want %s", st.ID, st.State, st.Reason, want[st.ID])
		}
	}
	if len(jobs) != len(want) {
		t.Errorf("%d jobs, want %d: %+v", len(jobs), len(want), jobs)
	}
}

// readmeBlock returns the lines of the first sh code block after heading.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n"+heading)
	_, rest, ok2 := strings.Cut(rest, "```sh\n")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatalf("README.md has no sh block after %q", heading)
	}
	return strings.Split(strings.TrimSpace(block), "\n")
}

// startServe runs serve in dir until the test ends and returns the NATS
// URL and HTTP address it printed.
func startServe(t *testing.T, bin, dir string, args []string) (natsURL, httpAddr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("serve did not stop within 30 s of an interrupt")
		}
	})
	found := make(chan [2]string, 1)
	go func() {
		urlRe, httpRe := regexp.MustCompile(`msg="embedded NATS" url=(\S+)`), regexp.MustCompile(`msg=serving http=http://(\S+)`)
		var url, addr string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := urlRe.FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
			}
			if m := httpRe.FindStringSubmatch(sc.Text()); m != nil {
				addr = m[1]
				found <- [2]string{url, addr}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case f := <-found:
		return f[0], f[1]
	case <-time.After(time.Minute):
		t.Fatal("serve did not print its addresses within a minute")
	}
	return "", ""
}

// runReadmeCommand runs ctrecon with args in dir, after putting in the
// SERIES_UID of the first job's report, and returns its standard output.
// A search is repeated until the index has the series; a command that
// runs for minutes (a job waiting for a scan that never comes) fails.
func runReadmeCommand(t *testing.T, bin, dir string, args []string) string {
	t.Helper()
	for i, a := range args {
		if a == "SERIES_UID" {
			rep, err := recon.ReadReport(filepath.Join(dir, "ctrecon-data", "worker", "out", "recon-1"))
			if err != nil {
				t.Fatal(err)
			}
			args[i] = rep.Bins[0].SeriesInstanceUID
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err == nil {
			return stdout.String()
		}
		if args[0] != "search" || time.Now().After(deadline) {
			t.Fatalf("ctrecon %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
	}
}

// checkReadmeOutput checks what the README says each command prints.
func checkReadmeOutput(t *testing.T, command, out string) {
	t.Helper()
	want := map[string]string{
		"acquire": "streaming scan SIM-0001\n",
		"status":  " done ",
		"search":  "RANK  SCORE",
		"cancel":  "cancelled by",
	}[command]
	if !strings.Contains(out, want) || command == "acquire" && !strings.HasPrefix(out, want) {
		t.Errorf("ctrecon %s printed %q, want %q", command, out, want)
	}
}

// curl fetches each URL of a README curl command from the service's HTTP
// address and returns the last body.
func curl(t *testing.T, addr string, urls []string) []byte {
	t.Helper()
	var body []byte
	for _, u := range urls {
		u = strings.Replace(u, "127.0.0.1:8080", addr, 1)
		resp, err := http.Get("http://" + u)
		if err != nil {
			t.Fatal(err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s (%v)", u, resp.StatusCode, body, err)
		}
	}
	return body
}
