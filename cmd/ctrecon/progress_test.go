package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// In a pipe or a log, progress is a few log lines, 100 % once, and no
// carriage returns; the run's outcome still goes to stdout. Before, the
// bar's carriage returns and hashes went into the log.
func TestProgressLoggedOffTerminal(t *testing.T) {
	bin := buildCtrecon(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "phantom", "--spectral", "--views", "30", "-o", filepath.Join(t.TempDir(), "scan"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	log := stderr.String()
	if strings.ContainsAny(log, "\r\033") || !strings.Contains(stdout.String(), "wrote a simulated") {
		t.Errorf("stdout %q, stderr %q", stdout.String(), log)
	}
	if n := strings.Count(log, "msg=progress task=simulate percent="); n < 2 || n > 11 {
		t.Errorf("%d progress lines, want 2 to 11:\n%s", n, log)
	}
	if n := strings.Count(log, " percent=100 done=30 total=30 unit=views"); n != 1 {
		t.Errorf("100 %% logged %d times:\n%s", n, log)
	}
}
