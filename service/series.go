package service

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ctrecon/ctrecon/recon"
)

// seriesFolders finds the folders of the DICOM series the workers wrote,
// for the search page's thumbnails (search.HTTPOptions.SeriesDir): the
// bins of the reports (recon.ReportName) of the committed outputs under
// root, the workers' Dir/out/<job ID> (recon.Worker). A series of a job
// that named an output folder of its own is not found there; its
// thumbnail is then the layout of its objects.
type seriesFolders struct {
	root string

	mu   sync.Mutex
	dirs map[string]string // series UID to folder
	read map[string]bool   // output folders whose report was read
	last time.Time         // the last look for new reports
}

// rescanEvery bounds how often a series not yet known makes seriesFolders
// look for new outputs: each look lists root.
const rescanEvery = time.Second

func newSeriesFolders(root string) *seriesFolders {
	return &seriesFolders{root: root, dirs: map[string]string{}, read: map[string]bool{}}
}

// find returns the folder of series uid, reading the reports of outputs
// committed since the last look when uid is not known yet.
func (f *seriesFolders) find(uid string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if dir, ok := f.dirs[uid]; ok {
		return dir, true
	}
	if time.Since(f.last) < rescanEvery {
		return "", false
	}
	f.last = time.Now()
	entries, _ := os.ReadDir(f.root) // none yet: no job has finished
	for _, e := range entries {
		out := filepath.Join(f.root, e.Name())
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || f.read[out] { // "."+name: an attempt's staging folder
			continue
		}
		rep, err := recon.ReadReport(out)
		if err != nil {
			continue // not committed yet
		}
		f.read[out] = true
		for _, b := range rep.Bins {
			f.dirs[b.SeriesInstanceUID] = b.Dir
		}
	}
	dir, ok := f.dirs[uid]
	return dir, ok
}
