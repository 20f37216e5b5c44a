package ibsitest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ctrecon/ctrecon/internal/peertest"
)

// TestDirSearchesUpward checks that, without DirEnv, Dir finds
// shared/data/ibsi in a folder several levels above the working directory,
// as for a worktree below the folder that holds shared/, and that DirEnv
// wins over it.
func TestDirSearchesUpward(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, "shared", "data", "ibsi")
	pkg := filepath.Join(root, "wt", "branch", "features", "radiomics")
	for _, d := range []string{want, pkg} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(pkg)
	t.Setenv(DirEnv, "")
	t.Setenv(peertest.RequireEnv, "1") // not found fails instead of skipping
	if got := Dir(t); got != want {
		t.Fatalf("Dir = %q, want %q", got, want)
	}
	other := t.TempDir()
	t.Setenv(DirEnv, other)
	if got := Dir(t); got != other {
		t.Fatalf("with %s set, Dir = %q, want %q", DirEnv, got, other)
	}
}
