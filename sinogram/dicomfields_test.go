package sinogram_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Every manifest field that reaches a DICOM file is checked against its
// value representation when the manifest is read, with the field named:
// a study description of 93 characters is refused before any frame is
// read, not when the reconstruction is written.
func TestManifestDICOMFields(t *testing.T) {
	scanDir, _ := writeTiny(t)
	manifest, err := os.ReadFile(filepath.Join(scanDir, sinogram.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	desc93 := strings.Repeat("spectral ", 10) + "CT."
	cases := []struct {
		object, key string
		value       any
		mention     []string
	}{
		{"study", "description", desc93, []string{"study.description", "93 characters", "LO allows 64"}},
		{"study", "id", "STUDY-2026-00042", nil}, // 16: fits SH
		{"study", "id", "STUDY-2026-000421", []string{"study.id", "SH allows 16"}},
		{"study", "date", "20261399", []string{"study.date", "not a date"}},
		{"study", "instance_uid", "1.2.03", []string{"study.instance_uid", "not a UID"}},
		{"patient", "id", strings.Repeat("7", 65), []string{"patient.id", "LO allows 64"}},
		{"patient", "name", "Ngata^Aroha^^^^Jr", []string{"patient.name", "5 components"}},
		{"patient", "name", "Ngata\\Aroha", []string{"patient.name", "backslash"}},
		{"patient", "birth_date", "19700230", []string{"patient.birth_date", "not a date"}},
		{"patient", "sex", "X", []string{"patient.sex"}},
		{"patient", "position", "FFDL", nil},
		{"patient", "position", "LFP", []string{"patient.position", "LFP"}},
		{"patient", "position", "hfs", []string{"patient.position"}},
	}
	// acquired is a top-level field.
	top := func(key string, v any) func(m map[string]any) { return func(m map[string]any) { m[key] = v } }
	for _, c := range []struct {
		edit    func(m map[string]any)
		mention []string
	}{
		{top("acquired", "2026-01-15T10:42:07+13:00"), nil},
		{top("acquired", "2026-01-15 10:42"), []string{"acquired", "RFC 3339"}},
		{top("acquired", "2026-01-15T10:42:07"), []string{"acquired", "UTC offset"}},
		{func(m map[string]any) {
			m["acquired"] = "2026-01-15T10:42:07+13:00"
			field(m, "study")["date"] = "20260114" // the UTC date, not the scanner's
		}, []string{"study.date", "20260114", "acquired on 20260115"}},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, sinogram.ManifestName), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		editManifest(t, dir, c.edit)
		_, err := sinogram.ReadManifest(dir)
		switch {
		case c.mention == nil && err != nil:
			t.Errorf("%v", err)
		case c.mention != nil && !errors.Is(err, sinogram.ErrManifest):
			t.Errorf("error %v, want ErrManifest naming %q", err, c.mention)
		}
		for _, s := range c.mention {
			if err != nil && !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %q", err, s)
			}
		}
	}
	for _, c := range cases {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, sinogram.ManifestName), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		editManifest(t, dir, func(m map[string]any) { field(m, c.object)[c.key] = c.value })
		_, err := sinogram.ReadManifest(dir)
		if c.mention == nil {
			if err != nil {
				t.Errorf("%s.%s = %q: %v", c.object, c.key, c.value, err)
			}
			continue
		}
		if !errors.Is(err, sinogram.ErrManifest) {
			t.Errorf("%s.%s = %q: error %v, want ErrManifest", c.object, c.key, c.value, err)
			continue
		}
		for _, s := range c.mention {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s.%s = %q: error %q does not mention %q", c.object, c.key, c.value, err, s)
			}
		}
	}
}

// The simulator writes when the scan started: the spec's time with its UTC
// offset, or, when the spec has none, the time the simulator was made.
func TestSimulatorWritesAcquired(t *testing.T) {
	spec := tinySpec()
	spec.Acquired = time.Date(2026, 1, 15, 10, 42, 7, 0, time.FixedZone("NZDT", 13*3600))
	sim, err := scansim.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if got := sim.Scan().Acquired; got != "2026-01-15T10:42:07+13:00" {
		t.Errorf("acquired %q, want 2026-01-15T10:42:07+13:00", got)
	}
	before := time.Now().Truncate(time.Second)
	if sim, err = scansim.New(tinySpec()); err != nil {
		t.Fatal(err)
	}
	if got, ok := sim.Scan().AcquisitionTime(); !ok || got.Before(before) || got.After(time.Now()) {
		t.Errorf("acquired %q (%v), want the time the simulator was made", sim.Scan().Acquired, ok)
	}
}
