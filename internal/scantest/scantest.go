// Package scantest edits spectral scan folders for tests: their scan.json
// as generic JSON, so that it can hold what sinogram.WriteManifest would
// refuse.
package scantest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ctrecon/ctrecon/sinogram"
)

// EditManifest rewrites dir/scan.json through edit, as a generic JSON
// value.
func EditManifest(t testing.TB, dir string, edit func(m map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, sinogram.ManifestName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// EditedCopy returns a new folder holding the scan folder src with its
// scan.json rewritten through edit; every other entry is a symbolic link
// to src's, so that no frame is copied.
func EditedCopy(t testing.TB, src string, edit func(m map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == sinogram.ManifestName {
			continue
		}
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(src, sinogram.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sinogram.ManifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	EditManifest(t, dir, edit)
	return dir
}
