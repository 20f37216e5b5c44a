package recon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/sinogram"
)

// AcquireOptions are how the acquisition host streams a scan.
type AcquireOptions struct {
	// Pace is the time between views, as the scanner takes them; 0 streams
	// as fast as the bus acknowledges.
	Pace time.Duration
	// Progress, if set, is called after each acknowledged view.
	Progress func(done, total int)
	// Retry is how long one publish may take before it is sent again (0:
	// 5 s). Deduplication makes a repeat of an acknowledged frame harmless.
	Retry time.Duration
	// ScanID, if set, streams the scan under this ID instead of its
	// manifest's (the manifest sent says so too).
	ScanID string
	// Started, if set, is called with the scan's ID once the manifest is
	// checked, before anything is streamed.
	Started func(scanID string)
}

// Acquire streams the scan in dir on the bus as the scanner host does: its
// calibration frames into the object store, its manifest, then every
// projection frame, view by view, each acknowledged before the next and
// sent again after a dropped connection until it is. It returns the scan's
// ID.
//
// Like a scanner's host it checks the manifest but not the frames: the
// worker does, and fails the job with the frame named.
func Acquire(ctx context.Context, b *bus.Bus, dir string, opts AcquireOptions) (string, error) {
	scan, err := sinogram.ReadManifest(dir)
	if err != nil {
		return "", err
	}
	manifest, err := os.ReadFile(filepath.Join(dir, sinogram.ManifestName))
	if err != nil {
		return "", err
	}
	if opts.ScanID != "" && opts.ScanID != scan.ScanID {
		if manifest, err = renameScan(manifest, opts.ScanID); err != nil {
			return "", fmt.Errorf("%s: %w", dir, err)
		}
		scan.ScanID = opts.ScanID
	}
	if err := bus.ValidID("scan", scan.ScanID); err != nil {
		return "", fmt.Errorf("%s: scan_id: %w", dir, err)
	}
	if n := len(scan.CameraPositions()); n > 1 {
		return "", fmt.Errorf("%s: %d camera positions: streaming supports one; submit the folder instead", dir, n)
	}
	if opts.Started != nil {
		opts.Started(scan.ScanID)
	}
	if err := putCalibration(ctx, b, scan); err != nil {
		return "", err
	}
	if err := retry(ctx, opts.Retry, func(ctx context.Context) error {
		_, err := b.PublishManifest(ctx, scan.ScanID, manifest)
		return err
	}); err != nil {
		return "", err
	}
	for v := range scan.Views {
		start := time.Now()
		for bin := range scan.Bins {
			data, err := os.ReadFile(scan.FramePath(sinogram.ProjectionFrame, v, bin, 0, 0))
			if err != nil {
				return "", err
			}
			if err := retry(ctx, opts.Retry, func(ctx context.Context) error {
				_, err := b.PublishFrame(ctx, scan.ScanID, bin, v, data, nil)
				return err
			}); err != nil {
				return "", fmt.Errorf("view %d bin %d: %w", v, bin, err)
			}
		}
		if opts.Progress != nil {
			opts.Progress(v+1, scan.Views)
		}
		sleep(ctx, opts.Pace-time.Since(start))
	}
	return scan.ScanID, ctx.Err()
}

// renameScan returns the manifest with its scan_id replaced by id.
func renameScan(manifest []byte, id string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(manifest, &fields); err != nil {
		return nil, fmt.Errorf("%s: %w", sinogram.ManifestName, err)
	}
	fields["scan_id"], _ = json.Marshal(id)
	return json.Marshal(fields)
}

// putCalibration copies the flats, darks and bad-pixel mask into a folder
// of their own and puts it in the object store.
func putCalibration(ctx context.Context, b *bus.Bus, scan *sinogram.Scan) error {
	tmp, err := os.MkdirTemp("", "ctrecon-calibration-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var files []string
	for bin := range scan.Bins {
		for k := range scan.Flats {
			files = append(files, scan.FramePath(sinogram.FlatFrame, 0, bin, 0, k))
		}
		for k := range scan.Darks {
			files = append(files, scan.FramePath(sinogram.DarkFrame, 0, bin, 0, k))
		}
	}
	if scan.BadPixelMask != "" {
		files = append(files, filepath.Join(scan.Dir(), scan.BadPixelMask))
	}
	for _, f := range files {
		rel, err := filepath.Rel(scan.Dir(), f)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(tmp, rel), data); err != nil {
			return err
		}
	}
	return retry(ctx, 0, func(ctx context.Context) error {
		_, err := b.PutFolder(ctx, CalibrationFolder(scan.ScanID), tmp)
		return err
	})
}

// retry calls fn with a deadline of timeout (0: 5 s) per attempt until it
// succeeds, fails for a reason a repeat cannot change, or ctx ends.
func retry(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil || errors.Is(err, bus.ErrInvalidID) || errors.Is(err, bus.ErrTooLarge) {
			return err
		}
		sleep(ctx, wait)
	}
}

// Submit queues job on the bus with its ID as the deduplication key (a new
// ID is made when it has none), after validating it, so a malformed spec is
// rejected here with the field it names; a job for a streamed scan whose
// manifest is on the bus already is checked against it (Check). It returns the ID and whether the
// job had been submitted before.
func Submit(ctx context.Context, b *bus.Bus, job Job) (id string, duplicate bool, err error) {
	if job.ID == "" {
		job.ID = NewJobID()
	}
	if err := bus.ValidID("job", job.ID); err != nil {
		return "", false, jobErr("id", "%v", err)
	}
	if err := job.Validate(); err != nil {
		return "", false, err
	}
	if err := checkOnBus(ctx, b, job); err != nil {
		return "", false, err
	}
	if job.Output != "" {
		// Where the submitter sees the worker's folders (one host, a shared
		// disk) a folder that is not the job's is refused now; the worker
		// checks again.
		if _, err := checkOutput(job.Output, job.ID); err != nil {
			return "", false, err
		}
	}
	spec, err := json.Marshal(job)
	if err != nil {
		return "", false, err
	}
	// Queued before it is published, so a fast worker's status is not
	// overwritten; a job submitted again keeps the status it has.
	if _, err := b.UpdateStatus(ctx, bus.Status{ID: job.ID, State: bus.StateQueued}, 0); err != nil && !errors.Is(err, bus.ErrConflict) {
		return "", false, err
	}
	duplicate, err = b.SubmitJob(ctx, job.ID, spec)
	return job.ID, duplicate, err
}

// ErrOver is wrapped by the error of Cancel for a job that is over.
var ErrOver = errors.New("job is over")

// Cancel stops job id, whether queued, waiting for its scan or running:
// its status becomes cancelled, naming by. The worker that holds the job
// sees it at once, stops, removes what it staged and terminates the
// delivery, and takes other jobs; a queued job is terminated by the worker
// it is delivered to. Errors wrap bus.ErrNotFound for a job that has no
// status, or ErrOver (with the state) for one that is done, failed or
// cancelled already.
func Cancel(ctx context.Context, b *bus.Bus, id, by string) (bus.Status, error) {
	for range 10 {
		st, err := b.GetStatus(ctx, id)
		if err != nil {
			return st, err
		}
		if st.State.Final() {
			return st, fmt.Errorf("cancel job %s: %w: it is %s", id, ErrOver, st.State)
		}
		st.State, st.CancelledBy, st.Reason = bus.StateCancelled, by, "cancelled by "+by
		rev, err := b.UpdateStatus(ctx, st, st.Revision)
		if errors.Is(err, bus.ErrConflict) {
			continue
		}
		st.Revision = rev
		return st, err
	}
	return bus.Status{}, fmt.Errorf("cancel job %s: its status changed ten times while cancelling", id)
}

// Wait follows job id's status until the job is over and returns its last
// status: with a nil error when it is done, with an error naming the state
// and the reason when it failed or was cancelled. update, if set, is given
// every status on the way, in order. It returns ctx's error when ctx ends
// first.
func Wait(ctx context.Context, b *bus.Bus, id string, update func(bus.Status)) (bus.Status, error) {
	updates, err := b.WatchStatus(ctx, id)
	if err != nil {
		return bus.Status{}, err
	}
	for st := range updates {
		if update != nil {
			update(st)
		}
		switch st.State {
		case bus.StateDone:
			return st, nil
		case bus.StateFailed, bus.StateCancelled:
			return st, fmt.Errorf("job %s %s: %s", id, st.State, st.Reason)
		}
	}
	if err := ctx.Err(); err != nil {
		return bus.Status{}, err
	}
	return bus.Status{}, fmt.Errorf("job %s: the watch on its status ended", id)
}

// NewJobID returns a unique job ID: the time and random bits.
func NewJobID() string {
	r := make([]byte, 4)
	rand.Read(r)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(r)
}
