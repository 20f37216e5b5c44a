package sinogram_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
