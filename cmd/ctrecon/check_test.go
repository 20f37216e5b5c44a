package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/internal/scantest"
)

// A study description of 93 characters (DICOM's LO holds 64), in scan.json
// or in a job file, is refused by recon and by submit with the field
// named, before any reconstruction and before submit connects to NATS
// (nothing listens at the URL given).
func TestLongDescriptionRefusedFirst(t *testing.T) {
	dir := t.TempDir()
	scan := filepath.Join(dir, "scan")
	if err := runPhantom([]string{"--spectral", "-o", scan, "--views", "12", "--thresholds", "20,40"}); err != nil {
		t.Fatal(err)
	}
	desc := strings.Repeat("spectral ", 10) + "CT."
	scantest.EditManifest(t, scan, func(m map[string]any) { m["study"].(map[string]any)["description"] = desc })
	job := filepath.Join(dir, "job.json")
	spec, _ := json.Marshal(map[string]any{"scan_id": "S1", "volume": map[string]any{"dim": []int{8, 8, 8}}, "study_description": desc})
	if err := os.WriteFile(job, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, c := range []struct {
		run  func([]string) error
		args []string
		want string
	}{
		{runRecon, []string{"-i", scan, "-o", out, "--dim", "16,16,2", "--device", "cpu"}, "study.description"},
		{runSubmit, []string{"--nats", "nats://127.0.0.1:1", "-i", scan}, "study.description"},
		{runSubmit, []string{"--nats", "nats://127.0.0.1:1", job}, "study_description"},
	} {
		err := c.run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "93 characters") {
			t.Errorf("%v: err = %v, want it to name %s and its 93 characters", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("recon made %s", out)
	}
}
