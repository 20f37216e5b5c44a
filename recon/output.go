package recon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// A job writes only into folders it made and marked as its own. Each
// attempt at a job (a worker's delivery, or an offline run) writes into a
// staging folder of its own next to the output folder, named
// ".<output>.ctrecon-<attempt>" and holding MarkerName, and commits it with
// one rename onto the output folder, which must not exist or be empty then.
// A rename onto a folder that is not empty fails, so the first attempt to
// commit wins and a job has at most one output set; a later attempt uses
// the committed one. Cleaning up removes staging folders whose marker names
// the job, and nothing else.

// MarkerName is the file by which a job marks a folder as its own: JSON
// {"job_id": ..., "attempt": ...}. A committed output folder holds it too.
const MarkerName = ".ctrecon-job"

// ReportName is the job report in an output folder; an output folder with
// the job's marker and report is a committed output of the job.
const ReportName = "report.json"

type marker struct {
	JobID   string `json:"job_id"`
	Attempt string `json:"attempt"`
}

// readMarker returns the marker of dir, or false when it has none that
// parses.
func readMarker(dir string) (marker, bool) {
	data, err := os.ReadFile(filepath.Join(dir, MarkerName))
	if err != nil {
		return marker{}, false
	}
	var m marker
	if json.Unmarshal(data, &m) != nil || m.JobID == "" {
		return marker{}, false
	}
	return m, true
}

// checkOutput tells what dir holds for job id: nothing (it does not exist
// or is empty), or a committed output of the job (done). Anything else is
// an error wrapping ErrJob that names dir: a job never writes into, or
// removes, a folder that is not its own.
func checkOutput(dir, id string) (done bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, jobErr("output", "output folder %s: %v", dir, err)
	case len(entries) == 0:
		return false, nil
	}
	if m, ok := readMarker(dir); ok && m.JobID == id {
		if rep, err := ReadReport(dir); err == nil && rep.JobID == id {
			return true, nil
		}
	}
	return false, jobErr("output", "%s exists, is not empty and is not job %s's (no %s naming it): give a new or empty folder", dir, id, MarkerName)
}

// stagingPrefix is the start of the names of the staging folders of
// output folder dir.
func stagingPrefix(dir string) string {
	dir = filepath.Clean(dir)
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".ctrecon-")
}

// stage makes the staging folder of one attempt at job id whose output
// folder is dir, and marks it.
func stage(dir, id, attempt string) (string, error) {
	staging := stagingPrefix(dir) + attempt
	if err := os.MkdirAll(filepath.Dir(staging), 0o755); err != nil {
		return "", fmt.Errorf("output folder %s: %w", dir, err)
	}
	if err := os.Mkdir(staging, 0o755); err != nil {
		return "", fmt.Errorf("output folder %s: staging: %w", dir, err)
	}
	data, _ := json.Marshal(marker{JobID: id, Attempt: attempt})
	if err := os.WriteFile(filepath.Join(staging, MarkerName), data, 0o644); err != nil {
		os.Remove(staging)
		return "", fmt.Errorf("output folder %s: staging: %w", dir, err)
	}
	return staging, nil
}

// commit renames the staging folder of job id onto dir. When another
// attempt committed first, the staging folder is removed and adopted is
// true: dir holds the job's output. When dir holds anything else, the
// staging folder is removed and the error names dir.
func commit(staging, dir, id string) (adopted bool, err error) {
	// Not os.Rename, which refuses any existing folder: rename(2) replaces
	// an empty one and refuses one that is not empty.
	err = syscall.Rename(staging, dir)
	if err == nil {
		return false, nil
	}
	discard(staging, id)
	if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
		done, cerr := checkOutput(dir, id)
		if done {
			return true, nil
		}
		if cerr != nil {
			return false, cerr
		}
	}
	return false, fmt.Errorf("output folder %s: commit: %w", dir, err)
}

// discard removes a staging folder if its marker names job id.
func discard(staging, id string) error {
	if m, ok := readMarker(staging); !ok || m.JobID != id {
		return fmt.Errorf("%s: not a staging folder of job %s: left as it is", staging, id)
	}
	return os.RemoveAll(staging)
}

// sweep removes what earlier attempts at job id left next to its committed
// output dir (a worker killed mid-job cannot clean up): staging folders
// whose marker names the job. None of them can be committed any more.
func sweep(dir, id string) {
	prefix := stagingPrefix(dir)
	parent, base := filepath.Dir(prefix), filepath.Base(prefix)
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), base) {
			discard(filepath.Join(parent, e.Name()), id)
		}
	}
}

// ReadReport reads the report (ReportName) of a committed output folder.
func ReadReport(dir string) (*Report, error) {
	data, err := os.ReadFile(filepath.Join(dir, ReportName))
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ReportName), err)
	}
	return &rep, nil
}
