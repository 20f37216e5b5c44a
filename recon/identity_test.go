package recon

import (
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/dicomio"
)

// uidsOf reads the UIDs of every file a run wrote, by bin folder and file
// name: study, series, SOP instance and frame of reference.
func uidsOf(t *testing.T, rep *Report) map[string][4]string {
	t.Helper()
	out := map[string][4]string{}
	for _, b := range rep.Bins {
		files, _ := filepath.Glob(filepath.Join(b.Dir, "*.dcm"))
		if len(files) == 0 {
			t.Fatalf("no files in %s", b.Dir)
		}
		for _, f := range files {
			ds, err := dicom.ParseFile(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			var u [4]string
			for i, tg := range []tag.Tag{tag.StudyInstanceUID, tag.SeriesInstanceUID, tag.SOPInstanceUID, tag.FrameOfReferenceUID} {
				e, err := ds.FindElementByTag(tg)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				u[i] = strings.Join(dicom.MustGetStrings(e.Value), "")
			}
			out[filepath.Join(filepath.Base(b.Dir), filepath.Base(f))] = u
		}
	}
	return out
}

// runUIDs runs j into a new folder and returns the UIDs of its files
// (uidsOf).
func runUIDs(t *testing.T, j Job) map[string][4]string {
	t.Helper()
	j.Output = t.TempDir()
	rep, err := Run(context.Background(), j, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return uidsOf(t, rep)
}

var uidPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$`)

// The same job run twice into two folders writes the same study, series,
// SOP instance and frame of reference UIDs in every file; another job ID
// gives other study, series and instance UIDs but the same frame of
// reference (it is the acquisition's); every UID is valid (PS3.5 9.1).
func TestRunUIDsAreDeterministic(t *testing.T) {
	job := smallJob(t)
	job.ID, job.Bins, job.Volume.Dim = "uids-1", []int{1, 3}, [3]int{24, 24, 2}
	run := func(j Job) map[string][4]string { return runUIDs(t, j) }
	first, again := run(job), run(job)
	job.ID = "uids-2"
	other := run(job)
	if len(first) != 4 || len(again) != 4 || len(other) != 4 {
		t.Fatalf("%d, %d and %d files, want 4 each", len(first), len(again), len(other))
	}
	sops := map[string]bool{}
	for name, u := range first {
		if again[name] != u {
			t.Errorf("%s: UIDs (study, series, instance, frame) %q the first time, %q the second", name, u, again[name])
		}
		o := other[name]
		for i, kind := range []string{"study", "series", "SOP instance"} {
			if o[i] == u[i] {
				t.Errorf("%s: jobs uids-1 and uids-2 share the %s UID %s", name, kind, u[i])
			}
		}
		if o[3] != u[3] {
			t.Errorf("%s: frame of reference %s for job uids-1, %s for uids-2: it is the scan's", name, u[3], o[3])
		}
		for _, uid := range append(u[:], o[:]...) {
			if len(uid) > 64 || !uidPattern.MatchString(uid) {
				t.Errorf("%s: %q is not a valid UID", name, uid)
			}
		}
		if sops[u[2]] {
			t.Errorf("%s: SOP Instance UID %s repeated", name, u[2])
		}
		sops[u[2]] = true
	}
}

// A job run without an ID gets one derived from what it computes: the same
// parameters give the same ID, wherever the output goes; another grid
// another ID.
func TestOfflineID(t *testing.T) {
	a, b := smallJob(t), smallJob(t)
	a.ID, b.ID = "", ""
	b.Output, b.PACS = "elsewhere", "http://pacs"
	if a.OfflineID() != b.OfflineID() || !strings.HasPrefix(a.OfflineID(), "offline-") {
		t.Errorf("same work, IDs %q and %q", a.OfflineID(), b.OfflineID())
	}
	b.Volume.Dim[2]++
	if a.OfflineID() == b.OfflineID() {
		t.Errorf("another grid, same ID %q", a.OfflineID())
	}
}

// dicomAttrs reads attributes of one file as strings (values joined by \).
func dicomAttrs(t *testing.T, path string, tags ...tag.Tag) []string {
	t.Helper()
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(tags))
	for i, tg := range tags {
		e, err := ds.FindElementByTag(tg)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, tag.DebugString(tg), err)
		}
		out[i] = strings.Trim(strings.Join(strings.Fields(strings.Trim(e.Value.String(), "[]")), `\`), " ")
	}
	return out
}

// The study date and time are the scan's acquisition time (in its UTC
// offset), not the clock's; the series date is the reconstruction's. The
// patient position of scan.json is written, with the orientation it gives;
// voxels outside the field of view carry the declared PixelPaddingValue.
// The frame of reference is the acquisition's: another acquisition time
// gives another one. dciodvfy finds no error in what Run wrote.
func TestRunDICOMIdentity(t *testing.T) {
	acquired := "2025-06-30T23:59:58+12:00"
	scan := func(when string) string {
		return editedScan(t, func(m map[string]any) {
			m["acquired"] = when
			m["study"] = map[string]any{"date": "20250630", "description": "spectral phantom"}
			m["patient"].(map[string]any)["position"] = "FFS"
		})
	}
	job := smallJob(t)
	job.Input, job.Bins = scan(acquired), []int{2}
	job.Volume = VolumeSpec{Dim: [3]int{24, 24, 2}, VoxelMM: [3]float64{1.2, 1.2, 0.6}} // corners outside the 18.9 mm field of view
	before := time.Now()
	rep, err := Run(context.Background(), job, Options{})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	file := filepath.Join(rep.Bins[0].Dir, "IM_0001.dcm")
	got := dicomAttrs(t, file, tag.StudyDate, tag.StudyTime, tag.TimezoneOffsetFromUTC, tag.SeriesDate,
		tag.PatientPosition, tag.ImageOrientationPatient, tag.PixelPaddingValue, tag.FrameOfReferenceUID)
	zone := time.FixedZone("", 12*3600)
	want := []string{"20250630", "235958.000000", "+1200", "", "FFS", `-1\0\0\0\1\0`, "-32768", ""}
	for i, name := range []string{"StudyDate", "StudyTime", "TimezoneOffsetFromUTC", "", "PatientPosition", "ImageOrientationPatient", "PixelPaddingValue"} {
		if name != "" && got[i] != want[i] {
			t.Errorf("%s = %q, want %q", name, got[i], want[i])
		}
	}
	if d := got[3]; d != before.In(zone).Format("20060102") && d != after.In(zone).Format("20060102") {
		t.Errorf("SeriesDate %s is not the reconstruction's (%s)", d, before.In(zone).Format("20060102"))
	}
	hu, cols, _, err := dicomio.ReadSliceHU(file)
	if err != nil {
		t.Fatal(err)
	}
	if corner, centre := hu[0], hu[cols*12+12]; !math.IsNaN(corner) || math.IsNaN(centre) {
		t.Errorf("corner %g HU (outside the field of view: want padding, NaN), centre %g HU", corner, centre)
	}
	if tool, err := exec.LookPath("dciodvfy"); err == nil {
		out, _ := exec.Command(tool, file).CombinedOutput()
		for line := range strings.Lines(string(out)) {
			if strings.HasPrefix(line, "Error") {
				t.Errorf("dciodvfy %s: %s", file, strings.TrimSpace(line))
			}
		}
	}

	job.Input, job.Output = scan("2025-06-30T08:00:00+12:00"), t.TempDir()
	other, err := Run(context.Background(), job, Options{})
	if err != nil {
		t.Fatal(err)
	}
	frame := dicomAttrs(t, filepath.Join(other.Bins[0].Dir, "IM_0001.dcm"), tag.FrameOfReferenceUID)[0]
	if frame == got[7] {
		t.Errorf("two acquisitions share the frame of reference %s", frame)
	}
}

// The same job ID with other reconstruction settings (a coarser voxel, a
// filter cut-off) writes other series and instance UIDs: other pixels
// never go under the UIDs of an earlier run. The study stays the job's.
func TestRunUIDsFollowSettings(t *testing.T) {
	job := smallJob(t)
	job.ID, job.Bins, job.Volume.Dim = "uids-settings", []int{1}, [3]int{24, 24, 2}
	run := func(j Job) map[string][4]string { return runUIDs(t, j) }
	first := run(job)
	coarser := job
	coarser.Volume.VoxelMM = Triple[float64]{0.5, 0.5, 0.5}
	cut := job
	cut.Filter.Cutoff = 0.5
	for what, j := range map[string]Job{"another voxel size": coarser, "another cut-off": cut} {
		other := run(j)
		for name, u := range first {
			o, ok := other[name]
			if !ok {
				t.Fatalf("%s: no %s", what, name)
			}
			if o[0] != u[0] {
				t.Errorf("%s, %s: study %s, was %s: the study is the scan's and the job's", what, name, o[0], u[0])
			}
			if o[1] == u[1] || o[2] == u[2] {
				t.Errorf("%s, %s: same series %s or instance %s UID as the first run", what, name, u[1], u[2])
			}
		}
	}
}
