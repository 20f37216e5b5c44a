package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// phantom refuses an output folder that is not empty, naming it, whether
// it holds an earlier scan (a second run with fewer views would leave the
// first run's extra views beside its own) or the user's files, and
// touches nothing in it.
func TestPhantomRefusesNonEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	scan := filepath.Join(dir, "scan")
	if err := runPhantom([]string{"-o", scan, "--views", "12", "--det", "16x8"}); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(dir, "user")
	if err := os.Mkdir(user, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(user, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-o", scan, "--views", "6", "--det", "16x8"},
		{"-o", user, "--views", "6", "--det", "16x8"},
		{"--spectral", "-o", scan, "--views", "6"},
		{"--spectral", "-o", user, "--views", "6"},
	} {
		out := args[slices.Index(args, "-o")+1]
		before, _ := os.ReadDir(out)
		err := runPhantom(args)
		if err == nil || !strings.Contains(err.Error(), "-o "+out) || !strings.Contains(err.Error(), "not empty") {
			t.Errorf("phantom %v: err = %v, want a refusal naming -o %s", args, err, out)
		}
		if after, _ := os.ReadDir(out); len(after) != len(before) {
			t.Errorf("phantom %v: %d entries in %s, were %d", args, len(after), out, len(before))
		}
	}
	if data, _ := os.ReadFile(filepath.Join(user, "notes.txt")); string(data) != "mine" {
		t.Errorf("the user's file holds %q", data)
	}
}
