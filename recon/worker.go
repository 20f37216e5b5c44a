package recon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features/records"
	"github.com/ctrecon/ctrecon/pacs"
	"github.com/ctrecon/ctrecon/sinogram"
)

// DefaultJobs is how many jobs a worker holds at once when Worker.Jobs is
// not set.
const DefaultJobs = 4

// Worker pulls jobs from the bus's shared work queue and runs them: any
// number of workers, in one process or many, share the queue and each job
// goes to one of them.
//
// A worker holds a job through its status (see claimJob) and publishes
// nothing once it has lost it to another worker or to a cancel: an attempt
// writes its outputs into a staging folder of its own and commits them
// with one rename while it holds the job, the first commit being the job's
// output; the features and the PACS upload are then made from that one
// committed output, under message IDs per job and record, and only while
// the attempt holds the job; the done status is written by compare-and-set.
type Worker struct {
	Bus *bus.Bus
	// Dir holds the worker's copies of streamed scans and, for jobs that
	// name no output folder, the outputs (Dir/out/<job ID>).
	Dir string
	// Backprojector does the back-projection (nil: the CPU).
	Backprojector fdk.Backprojector
	// RetryDelay is the first delay before a job that failed for a reason
	// that may pass is tried again; it doubles per delivery (0: 2 s).
	RetryDelay time.Duration
	// Jobs is how many jobs the worker holds at once (0: DefaultJobs). It
	// takes another job only while every job it holds is waiting for its
	// streamed scan to start, so a job for a scan that is late (or never
	// comes) does not hold up the queue, and a running job has the
	// processor to itself.
	Jobs int
	Log  *slog.Logger
	// Metrics counts the worker's jobs, frames and stage times (nil: a
	// Metrics of its own, which Run makes and no registry collects).
	Metrics *Metrics
	// Name names the worker in the reports of jobs split into slabs
	// (WorkerName; empty: WorkerName(0)).
	Name string

	load load
}

// Run pulls and runs jobs until ctx ends, and returns once every job it
// started has stopped.
func (w *Worker) Run(ctx context.Context) error {
	if w.Log == nil {
		w.Log = slog.Default()
	}
	if w.Metrics == nil {
		w.Metrics = NewMetrics()
	}
	limit := w.Jobs
	if limit <= 0 {
		limit = DefaultJobs
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for w.load.reserve(ctx, limit) {
		s := &slot{load: &w.load, running: true}
		pctx, cancel := w.load.pullContext(ctx)
		j, err := w.Bus.PullJob(pctx)
		cancel()
		if err != nil {
			s.release()
			if !errors.Is(err, bus.ErrNoJob) && ctx.Err() == nil {
				w.Log.Warn("pulling a job", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		wg.Go(func() {
			defer s.release()
			w.handle(ctx, j, s)
		})
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// handle claims one delivery of a job, runs it and settles it: Ack when
// done, Term with a failed status when it can never succeed or this was
// its last delivery, NakWithDelay otherwise; Term when it was cancelled,
// and nothing at all when another attempt took the job over.
func (w *Worker) handle(ctx context.Context, j *bus.Job, s *slot) {
	log := w.Log.With("job", j.ID, "delivery", j.Deliveries)
	jctx, lose := context.WithCancelCause(ctx)
	defer lose(nil)
	c, prior, err := claimJob(jctx, w.Bus, j.ID, newAttempt(j.Deliveries), lose)
	switch {
	case errors.Is(err, bus.ErrInvalidID):
		log.Error("job failed", "reason", err)
		j.Term(err.Error())
		return
	case err != nil:
		log.Warn("claiming the job, will retry", "err", err)
		j.NakWithDelay(w.retryDelay(j))
		return
	case c == nil:
		w.over(ctx, j, prior, log)
		return
	}
	log = log.With("attempt", c.attempt)
	defer c.watch(jctx)()
	attempt, unfollow := w.attempt, func() {}
	if job, _, slab := bus.ParseSlabKey(j.ID); slab {
		// Followed until the attempt returns: a cancel after that must
		// not overwrite the slab's settled status.
		attempt, unfollow = w.slabAttempt, c.follow(jctx, job)
	}
	stop := j.KeepAlive(jctx, 0)
	done, err := attempt(jctx, j, c, s, log)
	stop()
	unfollow()
	var lost *lostError
	switch {
	case ctx.Err() != nil:
		return // shutting down: the job is redelivered after AckWait
	case errors.As(context.Cause(jctx), &lost):
		w.abandon(j, lost, log)
		return
	}
	w.settle(ctx, j, c, done, err, log)
}

// over settles the delivery of a job that is over already.
func (w *Worker) over(ctx context.Context, j *bus.Job, st bus.Status, log *slog.Logger) {
	switch st.State {
	case bus.StateDone:
		log.Info("already done by an earlier delivery")
		if err := j.Ack(ctx); err != nil {
			log.Warn("acknowledging", "err", err)
		}
	case bus.StateCancelled:
		log.Info("job cancelled", "by", st.CancelledBy)
		w.settled(OutcomeCancelled)
		j.Term(st.Reason)
	default:
		j.Term(st.Reason)
	}
}

// abandon leaves a job that this attempt lost: to a cancel, by
// terminating its delivery; to another attempt, by doing nothing, which
// leaves the delivery to that attempt.
func (w *Worker) abandon(j *bus.Job, lost *lostError, log *slog.Logger) {
	if lost.latest.State == bus.StateCancelled {
		log.Info("job cancelled: stopped, staged outputs removed", "by", lost.latest.CancelledBy)
		w.settled(OutcomeCancelled)
		j.Term(lost.Error())
		return
	}
	log.Warn("lost the job to another attempt: discarding this attempt's results, publishing nothing",
		"held_by", lost.latest.Attempt, "state", lost.latest.State)
}

// attempt makes the job's output, unless an earlier attempt committed it,
// and publishes it: features, PACS upload. It returns the job's done
// status.
func (w *Worker) attempt(ctx context.Context, j *bus.Job, c *claim, s *slot, log *slog.Logger) (bus.Status, error) {
	rep, err := w.attemptJob(ctx, j, c, s, log)
	if err != nil {
		return bus.Status{}, err
	}
	return doneStatus(rep), nil
}

// attemptJob is attempt's work; it returns the committed output's report.
func (w *Worker) attemptJob(ctx context.Context, j *bus.Job, c *claim, s *slot, log *slog.Logger) (*Report, error) {
	job, err := ParseJob(j.Spec)
	if err != nil {
		return nil, err
	}
	job.ID = j.ID
	if job.Output == "" {
		job.Output = filepath.Join(w.Dir, "out", j.ID)
	}
	done, err := checkOutput(job.Output, job.ID)
	if err != nil {
		return nil, err
	}
	if done {
		log.Info("output committed by an earlier attempt: publishing it", "output", job.Output)
	} else if err := w.compute(ctx, job, c, s, log); err != nil {
		return nil, err
	}
	sweep(job.Output, job.ID)
	if job.split() {
		if err := w.Bus.DeleteSlabs(ctx, job.ID); err != nil {
			log.Warn("removing the slabs' volumes from the object store", "err", err)
		}
	}
	rep, err := ReadReport(job.Output)
	if err != nil {
		return nil, err
	}
	if err := w.publish(ctx, job, rep, c); err != nil {
		// The output stays: the failed status says where, and what its
		// report warned of.
		return nil, &warnedError{err, doneStatus(rep)}
	}
	return rep, nil
}

// compute runs the job into a staging folder of this attempt and commits
// it, if the attempt still holds the job. When another attempt committed
// first, its output is the job's.
func (w *Worker) compute(ctx context.Context, job *Job, c *claim, s *slot, log *slog.Logger) error {
	src, err := w.source(ctx, job, c, s)
	if err != nil {
		return err
	}
	staging, err := stage(job.Output, job.ID, c.attempt)
	if err != nil {
		src.close()
		return err
	}
	bp, err := job.backprojector(w.Backprojector)
	if err != nil {
		discard(staging, job.ID)
		src.close()
		return err
	}
	key, err := w.Bus.PseudonymKey(ctx)
	if err != nil {
		discard(staging, job.ID)
		src.close()
		return err
	}
	var last time.Time
	opts := Options{Backprojector: bp, Log: log, Features: true, PseudonymKey: key,
		Progress: func(stage string, done, total int) {
			if now := time.Now(); now.Sub(last) > 250*time.Millisecond || done == total {
				last = now
				// Progress is advisory: a lost update is repaired by the next.
				c.put(ctx, bus.Status{State: bus.StateRunning, Device: bp.Name(), Progress: float64(done) / float64(total)})
			}
		}}
	if job.split() {
		opts.split = w.splitStep(c, s, log)
	}
	running := w.Metrics.Running.WithLabelValues(bp.Name())
	running.Inc()
	rep, err := run(ctx, *job, opts, src, staging)
	running.Dec()
	if err == nil {
		w.Metrics.observe(rep, "preprocess", "filter", "backproject", "dicom")
		err = c.check(ctx)
	}
	if err != nil {
		discard(staging, job.ID)
		if rep != nil && len(rep.Warnings) > 0 {
			return &warnedError{err, bus.Status{Warnings: rep.Warnings}}
		}
		return err
	}
	adopted, err := commit(staging, job.Output, job.ID)
	if adopted {
		log.Info("another attempt committed the job's output first: this attempt's is discarded, that one published")
	}
	return err
}

// source returns where the job's views come from.
func (w *Worker) source(ctx context.Context, job *Job, c *claim, s *slot) (source, error) {
	switch {
	case job.ScanID != "":
		dir := filepath.Join(w.Dir, "scans", job.ScanID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		return newStreamSource(w.Bus, job.ScanID, dir, job.scanWait(), w.Metrics.Frames, func(waiting bool, reason string) {
			s.wait(waiting)
			st := bus.Status{State: bus.StateRunning}
			if waiting {
				st.State, st.Reason = bus.StateWaiting, reason
			}
			c.put(ctx, st)
		}), nil
	case job.Folder != "":
		dir := filepath.Join(w.Dir, "folders", job.Folder)
		if _, err := w.Bus.GetFolder(ctx, job.Folder, dir); err != nil {
			return nil, err
		}
		return folderSource{dir}, nil
	}
	return folderSource{job.Input}, nil
}

// publish sends the committed output's series to the PACS, then its
// feature records to the FEATURES stream, each only while the attempt
// holds the job. The records go last so that a search never finds series
// that the PACS lacks: a job whose upload fails publishes none (its output
// folder keeps them). An upload that an earlier attempt completed is not
// sent again.
func (w *Worker) publish(ctx context.Context, job *Job, rep *Report, c *claim) error {
	if job.PACS != "" && !rep.uploaded() {
		if err := c.check(ctx); err != nil {
			return err
		}
		err := upload(ctx, job.Output, rep, Options{Log: w.Log.With("job", job.ID)})
		w.Metrics.observe(rep, "pacs")
		if err != nil {
			return err
		}
	}
	if err := c.check(ctx); err != nil {
		return err
	}
	tooLarge, err := w.publishFeatures(ctx, job)
	if len(tooLarge) > 0 {
		msg := fmt.Sprintf("%d feature records are larger than the NATS server's max_payload and were not published, so the search lacks them (they are in %s): %s: raise the server's max_payload (at most 64 MiB), or reconstruct fewer voxels",
			len(tooLarge), filepath.Join(job.Output, FeaturesName), strings.Join(tooLarge[:min(len(tooLarge), 4)], ", "))
		rep.Warnings = append(rep.Warnings, msg)
		w.Log.Warn(msg, "job", job.ID)
	}
	return err
}

// publishFeatures publishes the records of the output's FeaturesName, each
// under a message ID made of the job and the record, so that the records
// of a job are stored once however many attempts publish them. A record
// larger than the server's max_payload (a virtual image of a fine grid)
// is left out, no attempt being able to send it, and named in tooLarge
// with its size: the job is done, and says so.
func (w *Worker) publishFeatures(ctx context.Context, job *Job) (tooLarge []string, err error) {
	data, err := os.ReadFile(filepath.Join(job.Output, FeaturesName))
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		rec, err := records.Unmarshal(sc.Bytes())
		if err != nil {
			return tooLarge, fmt.Errorf("%s: %w", filepath.Join(job.Output, FeaturesName), err)
		}
		_, err = w.Bus.PublishJobFeatures(ctx, job.ID, rec.Key(), rec.StudyUID, rec.SeriesUID, sc.Bytes())
		switch {
		case errors.Is(err, bus.ErrTooLarge):
			tooLarge = append(tooLarge, fmt.Sprintf("%s (%d bytes)", rec.Key(), len(sc.Bytes())))
		case err != nil:
			return tooLarge, err
		}
	}
	return tooLarge, sc.Err()
}

// settled counts a delivery settled with outcome.
func (w *Worker) settled(outcome string) { w.Metrics.Jobs.WithLabelValues(outcome).Inc() }

// retryDelay is how long a failed delivery waits before the next.
func (w *Worker) retryDelay(j *bus.Job) time.Duration {
	delay := w.RetryDelay
	if delay <= 0 {
		delay = 2 * time.Second
	}
	return delay << min(j.Deliveries-1, 6)
}

// settle acknowledges, retries or fails a delivery according to err; done
// is the status of a job (or slab) done.
func (w *Worker) settle(ctx context.Context, j *bus.Job, c *claim, done bus.Status, err error, log *slog.Logger) {
	var lost *lostError
	if err != nil && !permanent(err) && !j.LastAttempt() {
		delay := w.retryDelay(j)
		log.Warn("job failed, will retry", "err", err, "after", delay)
		st := bus.Status{State: bus.StateQueued, Reason: "retrying: " + err.Error(), Warnings: sofar(err).Warnings}
		if perr := c.put(ctx, st); errors.As(perr, &lost) {
			w.abandon(j, lost, log)
			return
		}
		w.settled(OutcomeRetried)
		j.NakWithDelay(delay)
		return
	}
	if err != nil {
		w.fail(ctx, j, c, err, log)
		return
	}
	if err := c.put(ctx, done); err != nil {
		if errors.As(err, &lost) {
			w.abandon(j, lost, log)
		} else {
			log.Warn("writing the done status, will retry", "err", err)
			j.NakWithDelay(w.retryDelay(j))
		}
		return
	}
	if err := j.Ack(ctx); err != nil {
		log.Warn("acknowledging", "err", err)
		return
	}
	w.settled(OutcomeDone)
	if done.Worker != "" { // a slab's
		log.Info("slab done", "object", done.Output)
		return
	}
	log.Info("job done", "study", done.StudyInstanceUID, "output", done.Output)
}

// warnedError is a job's failure after its report had warnings, or after
// its output was committed: what went wrong before the failure often
// explains it (a calibration that warned, a filter that aliases), and a
// committed output stays, so the failed status carries st: the warnings
// and, for a committed output, its done status (where the output is, the
// device, the stages' times).
type warnedError struct {
	err error
	st  bus.Status
}

func (e *warnedError) Error() string { return e.err.Error() }

func (e *warnedError) Unwrap() error { return e.err }

// sofar returns the status a job had made when it failed with err: a
// warnedError's, else none.
func sofar(err error) bus.Status {
	if warned, ok := errors.AsType[*warnedError](err); ok {
		return warned.st
	}
	return bus.Status{}
}

// fail ends the job for good with the reason in its status, and what the
// job had made by then (warnedError); without a committed output, the
// device and progress of its last running status. Its inputs (the scan on
// the bus, the folder) and a committed output are left as they are.
func (w *Worker) fail(ctx context.Context, j *bus.Job, c *claim, err error, log *slog.Logger) {
	reason := err.Error()
	st := sofar(err)
	st.State, st.Reason = bus.StateFailed, reason
	if st.Device == "" {
		st.Device, st.Progress = c.last()
	}
	var lost *lostError
	if perr := c.put(ctx, st); errors.As(perr, &lost) {
		w.abandon(j, lost, log)
		return
	}
	w.settled(OutcomeFailed)
	log.Error("job failed", "reason", reason)
	j.Term(reason)
}

// permanent reports whether err is about the job's data or spec, so that
// trying again cannot help.
func permanent(err error) bool {
	for _, e := range []error{ErrJob, ErrScanWait, errSlab, sinogram.ErrFormat, sinogram.ErrManifest, sinogram.ErrIncomplete,
		sinogram.ErrCalibration, fdk.ErrGeometry, fdk.ErrProjection, dicomio.ErrInput, pacs.ErrRejected} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// load counts the jobs a worker holds and how many of them are running
// rather than waiting for their scan to start.
type load struct {
	mu            sync.Mutex
	held, running int
	changed       chan struct{} // closed and replaced at every change
}

// reserve waits until the worker may take another job (none of its jobs
// is running and it holds fewer than limit) and counts it as held and
// running. It returns false when ctx ends first.
func (l *load) reserve(ctx context.Context, limit int) bool {
	for ctx.Err() == nil {
		l.mu.Lock()
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		if l.running == 0 && l.held < limit {
			l.held++
			l.running++
			l.mu.Unlock()
			return true
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
		}
	}
	return false
}

// pullContext returns the context of one pull, made after reserve: it
// ends when a job the worker holds starts running meanwhile, so that the
// worker does not take a job it would have to share the processor with.
func (l *load) pullContext(ctx context.Context) (context.Context, context.CancelFunc) {
	pctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			l.mu.Lock()
			running, changed := l.running, l.changed
			l.mu.Unlock()
			if running > 1 { // the reservation is one
				cancel()
				return
			}
			select {
			case <-changed:
			case <-pctx.Done():
				return
			}
		}
	}()
	return pctx, cancel
}

func (l *load) add(held, running int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held += held
	l.running += running
	if l.changed != nil {
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// slot is one job's share of a worker's load. Its methods are called from
// the job's goroutine only.
type slot struct {
	load    *load
	running bool
}

// wait counts the job as waiting for its scan, or as running again.
func (s *slot) wait(waiting bool) {
	if waiting == !s.running {
		return
	}
	s.running = !waiting
	if waiting {
		s.load.add(0, -1)
	} else {
		s.load.add(0, 1)
	}
}

// detach counts the job as neither held nor running while it waits on
// other workers (a split job's coordinator waits for its slabs), so that
// even a worker that holds one job at a time takes tasks meanwhile;
// attach counts it again.
func (s *slot) detach() {
	s.wait(true)
	s.load.add(-1, 0)
}

func (s *slot) attach() {
	s.load.add(1, 0)
	s.wait(false)
}

// release counts the job as gone; it may be called more than once.
func (s *slot) release() {
	if s.load == nil {
		return
	}
	running := 0
	if s.running {
		running = -1
	}
	s.load.add(-1, running)
	s.load = nil
}
