package bus

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFolderRoundTrip(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 20*time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	frame := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	files := map[string][]byte{
		"scan.json":           []byte(`{"scan_id":"s1"}`),
		"bin0/view0000.raw":   frame(300_000), // several object store chunks
		"bin0/view0001.raw":   frame(131_072), // exactly one chunk
		"bin1/view0000.raw":   frame(7),
		"flat/empty.raw":      {},
		"dark/deep/dark0.raw": frame(1000),
	}
	src := t.TempDir()
	writeFiles(t, src, files)

	put, err := b.PutFolder(ctx, "s1", src)
	if err != nil {
		t.Fatal(err)
	}
	if len(put.Files) != len(files) || put.Size() != 300_000+131_072+7+1000+uint64(len(files["scan.json"])) {
		t.Errorf("PutFolder: %d files, %d bytes", len(put.Files), put.Size())
	}
	dst := filepath.Join(t.TempDir(), "out")
	got, err := b.GetFolder(ctx, "s1", dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != len(files) {
		t.Errorf("GetFolder listed %d files", len(got.Files))
	}
	for name, want := range files {
		data, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, want) {
			t.Errorf("%s: %d bytes differ from the %d put", name, len(data), len(want))
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dst, "*", ".part-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}

	// Putting the folder again without a file removes it from the store.
	if err := os.Remove(filepath.Join(src, "bin1", "view0000.raw")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutFolder(ctx, "s1", src); err != nil {
		t.Fatal(err)
	}
	obs, err := b.projectionStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.GetInfo(ctx, "s1/bin1/view0000.raw"); err == nil {
		t.Error("a file removed from the folder is still stored")
	}
	dst2 := t.TempDir()
	if _, err := b.GetFolder(ctx, "s1", dst2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst2, "bin1", "view0000.raw")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removed file came back: %v", err)
	}

	if _, err := b.GetFolder(ctx, "s2", t.TempDir()); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing folder: %v", err)
	}
	if _, err := b.PutFolder(ctx, "s3", t.TempDir()); err == nil {
		t.Error("PutFolder of an empty folder succeeded")
	}
	if _, err := b.PutFolder(ctx, "s/4", src); !errors.Is(err, ErrInvalidID) {
		t.Errorf("folder name with a slash: %v", err)
	}
	withLink := t.TempDir()
	writeFiles(t, withLink, map[string][]byte{"a.raw": {1}})
	if err := os.Symlink("a.raw", filepath.Join(withLink, "b.raw")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutFolder(ctx, "s5", withLink); err == nil {
		t.Error("PutFolder stored a symbolic link")
	} else {
		wantErr(t, err, "b.raw", "not a regular file")
	}
}

func TestFolderIndexPathsStayInside(t *testing.T) {
	for _, p := range []string{"../x", "a/../../x", "/etc/passwd", "", "a//b", `a\b`, "./a"} {
		if validRelPath(p) {
			t.Errorf("validRelPath(%q) = true", p)
		}
	}
	for _, p := range []string{"a", "a/b.raw", "bin0/view0001.raw"} {
		if !validRelPath(p) {
			t.Errorf("validRelPath(%q) = false", p)
		}
	}
}

// FolderName gives one folder the same name each time, and another name
// to a folder of the same scan ID whose scan.json or any file's size or
// time differs, or that has another file; the name is a valid ID, cut
// from a scan ID of the longest length; an unreadable folder is an error
// naming it.
func TestFolderName(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string, at time.Time) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	write("scan.json", `{"scan_id":"S"}`, at)
	write("flat/b0.raw", "1234", at)
	name := func() string {
		t.Helper()
		n, err := FolderName("SIM-TEST-12", dir)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := name()
	if !strings.HasPrefix(first, "SIM-TEST-12_") || len(first) != len("SIM-TEST-12_")+12 || ValidID("folder", first) != nil || name() != first {
		t.Fatalf("name %q, then %q: want SIM-TEST-12_ and 12 hex digits, a valid ID, the same twice", first, name())
	}
	seen := map[string]string{first: "the folder"}
	for _, c := range []struct {
		what string
		edit func()
	}{
		{"scan.json's bytes of the same size and time", func() { write("scan.json", `{"scan_id":"T"}`, at) }},
		{"a file's size", func() { write("flat/b0.raw", "12345", at) }},
		{"a file's time", func() { write("flat/b0.raw", "12345", at.Add(time.Second)) }},
		{"another file", func() { write("dark/b0.raw", "1", at) }},
	} {
		c.edit()
		n := name()
		if other, ok := seen[n]; ok {
			t.Errorf("after %s the name is %q, as for %s", c.what, n, other)
		}
		seen[n] = c.what
	}
	long := strings.Repeat("x", 128)
	if n, err := FolderName(long, dir); err != nil || len(n) != 128 || ValidID("folder", n) != nil {
		t.Errorf("a scan ID of 128: name %q (%d), %v: want a valid ID of 128", n, len(n), err)
	}
	if _, err := FolderName("S", filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("a folder that is not there: %v, want an error naming it", err)
	}
}
