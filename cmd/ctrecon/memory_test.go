package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/internal/peertest"
	"github.com/ctrecon/ctrecon/recon"
)

// `ctrecon recon --max-memory` on a spectral scan whose volume does not fit
// reconstructs it in slabs (the report lists them) and writes, per bin, one
// series whose pixel data, instance numbers and positions equal bit for
// bit those of the series reconstructed in one piece, under one series
// UID, each file valid for dciodvfy. Before the slabs' writer declared
// PixelPaddingValue, their voxels outside the field of view read -1000 HU
// where the one-piece series has padding.
func TestReconMaxMemoryEqualsOnePiece(t *testing.T) {
	dciodvfy := peertest.Tool(t, "dciodvfy", "dicom3tools")
	dir := t.TempDir()
	scan := filepath.Join(dir, "scan")
	if err := runPhantom([]string{"--spectral", "-o", scan, "--views", "24", "--thresholds", "20,40"}); err != nil {
		t.Fatal(err)
	}
	args := []string{"-i", scan, "--dim", "96,96,48", "--device", "cpu"}
	whole, slabs := filepath.Join(dir, "whole"), filepath.Join(dir, "slabs")
	if err := runRecon(append(args, "-o", whole)); err != nil {
		t.Fatal(err)
	}
	if err := runRecon(append(args, "-o", slabs, "--max-memory", "80MiB")); err != nil {
		t.Fatal(err)
	}
	var rep recon.Report
	data, err := os.ReadFile(filepath.Join(slabs, recon.ReportName))
	if err != nil || json.Unmarshal(data, &rep) != nil {
		t.Fatalf("report: %v", err)
	}
	if len(rep.Slabs) < 3 {
		t.Fatalf("%d slabs in the report, want several: %+v", len(rep.Slabs), rep.Slabs)
	}
	for _, b := range rep.Bins {
		files, _ := filepath.Glob(filepath.Join(b.Dir, "*.dcm"))
		if len(files) != 48 {
			t.Fatalf("bin %d: %d files, want 48", b.Index, len(files))
		}
		uids := map[string]bool{}
		for k, f := range files {
			got := pixelsAndPlace(t, f)
			want := pixelsAndPlace(t, filepath.Join(whole, "dicom", filepath.Base(b.Dir), filepath.Base(f)))
			if got[1] != "["+strconv.Itoa(k+1)+"]" || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
				t.Errorf("%s: instance %s at %s, pixels equal %v; in one piece instance %s at %s", f, got[1], got[2], got[3] == want[3], want[1], want[2])
			}
			uids[got[0]] = true
			if k == 0 || k == len(files)-1 || k == rep.Slabs[1].Slices[0] {
				out, _ := exec.Command(dciodvfy, f).CombinedOutput()
				for line := range strings.Lines(string(out)) {
					if strings.HasPrefix(line, "Error") {
						t.Errorf("dciodvfy %s: %s", f, strings.TrimSpace(line))
					}
				}
			}
		}
		if len(uids) != 1 {
			t.Errorf("bin %d: %d series UIDs, want one", b.Index, len(uids))
		}
	}
}

// pixelsAndPlace returns a file's SeriesInstanceUID, InstanceNumber,
// ImagePositionPatient and pixels (as HU).
func pixelsAndPlace(t *testing.T, path string) [4]string {
	t.Helper()
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out [4]string
	for i, tg := range []tag.Tag{tag.SeriesInstanceUID, tag.InstanceNumber, tag.ImagePositionPatient} {
		e, err := ds.FindElementByTag(tg)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[i] = e.Value.String()
	}
	// Stored values map one to one to HU (slope 1, the padding value to
	// NaN), so equal HU are equal pixel data.
	hu, _, _, err := dicomio.ReadSliceHU(path)
	if err != nil {
		t.Fatal(err)
	}
	out[3] = fmt.Sprint(hu)
	return out
}

// --max-memory that is not a size, or a budget that holds less than one
// slice, fails before any work naming the flag; the latter says what a
// slice needs. A flag whose work needs the whole volume is refused, named,
// when the budget splits it.
func TestReconMaxMemoryRefused(t *testing.T) {
	dir, scan := phantomScans(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-i", scan, "-o", dir + "/out", "--max-memory", "1 GibiBytes"}, `--max-memory: "1 GibiBytes" is not a size`},
		{[]string{"-i", scan, "-o", dir + "/out", "--max-memory", "-5MiB"}, `--max-memory: "-5MiB" is not a size`},
		{[]string{"-i", scan, "-o", dir + "/out", "--dim", "8", "--max-memory", "64MiB"}, "--max-memory: memory budget too small: 64 MiB"},
		{[]string{"-i", dir + "/pfm", "-o", dir + "/x.mha", "--dim", "8", "--max-memory", "1MB"}, "--max-memory: memory budget too small"},
		{[]string{"-i", scan, "-o", dir + "/out", "--dim", "96,96,48", "--max-memory", "80MiB", "--water-roi", "0,0,0,3"}, "--water-roi: needs the whole volume, which max_memory_bytes (80 MiB) splits into"},
		{[]string{"-i", dir + "/pfm", "-o", dir + "/x.mha", "--dim", "96,96,48", "--max-memory", "74MiB", "--png", dir + "/x.png"}, "--png: needs the whole volume"},
	} {
		err := runRecon(append(tc.args, "--device", "cpu"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.args, err, tc.want)
		}
		if strings.Contains(tc.want, "too small") && (!errors.Is(err, recon.ErrJob) || !strings.Contains(err.Error(), "one slice")) {
			t.Errorf("%q: %v, want recon.ErrJob saying what one slice needs", tc.args, err)
		}
	}
	for _, p := range []string{dir + "/out", dir + "/x.mha"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("recon wrote %s", p)
		}
	}
}
