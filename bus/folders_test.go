package bus

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
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
