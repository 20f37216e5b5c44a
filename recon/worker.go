package recon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Worker pulls jobs from the bus's shared work queue and runs them: any
// number of workers, in one process or many, share the queue and each job
// goes to one of them.
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
	Log        *slog.Logger

	// Counters for metrics.
	Done, Failed, Retried atomic.Int64
}

// Run pulls and runs jobs until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	if w.Log == nil {
		w.Log = slog.Default()
	}
	for ctx.Err() == nil {
		j, err := w.Bus.PullJob(ctx)
		switch {
		case errors.Is(err, bus.ErrNoJob) || ctx.Err() != nil:
			continue
		case err != nil:
			w.Log.Warn("pulling a job", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		w.handle(ctx, j)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// handle runs one delivery of a job and settles it: Ack when done, Term
// with a failed status when it can never succeed or this was its last
// delivery, NakWithDelay otherwise. A job whose outputs are complete from
// an earlier delivery is acknowledged without running again; partial
// outputs of an earlier delivery are removed first, so a redelivered job
// leaves one series set.
func (w *Worker) handle(ctx context.Context, j *bus.Job) {
	log := w.Log.With("job", j.ID, "delivery", j.Deliveries)
	job, err := ParseJob(j.Spec)
	if err != nil {
		w.fail(ctx, j, err, log)
		return
	}
	job.ID = j.ID
	if job.Output == "" {
		job.Output = filepath.Join(w.Dir, "out", j.ID)
	}
	if rep, ok := finished(job.Output, j.ID); ok {
		log.Info("already done by an earlier delivery")
		w.settle(ctx, j, rep, nil, log)
		return
	}
	if err := os.RemoveAll(job.Output); err != nil {
		w.fail(ctx, j, err, log)
		return
	}
	stop := j.KeepAlive(ctx, 0)
	rep, err := w.run(ctx, job)
	stop()
	if ctx.Err() != nil {
		return // shutting down: the job is redelivered after AckWait
	}
	w.settle(ctx, j, rep, err, log)
}

// run runs the job with its views from the job's source.
func (w *Worker) run(ctx context.Context, job *Job) (*Report, error) {
	src, err := w.source(ctx, job)
	if err != nil {
		return nil, err
	}
	bp := w.Backprojector
	if bp == nil {
		bp = fdk.CPU{}
	}
	st := bus.Status{ID: job.ID, State: bus.StateRunning, Device: bp.Name()}
	var last time.Time
	opts := Options{Backprojector: bp, Log: w.Log,
		Progress: func(stage string, done, total int) {
			if now := time.Now(); now.Sub(last) > 250*time.Millisecond || done == total {
				last, st.Progress = now, float64(done)/float64(total)
				w.Bus.PutStatus(ctx, st) // progress is advisory: a lost update is repaired by the next
			}
		},
		Features: func(ctx context.Context, vs []features.Vector) error { return w.publish(ctx, vs) },
	}
	w.Bus.PutStatus(ctx, st)
	return run(ctx, *job, opts, src)
}

// source returns where the job's views come from.
func (w *Worker) source(ctx context.Context, job *Job) (source, error) {
	switch {
	case job.ScanID != "":
		dir := filepath.Join(w.Dir, "scans", job.ScanID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		return newStreamSource(w.Bus, job.ScanID, dir), nil
	case job.Folder != "":
		dir := filepath.Join(w.Dir, "folders", job.Folder)
		if _, err := w.Bus.GetFolder(ctx, job.Folder, dir); err != nil {
			return nil, err
		}
		return folderSource{dir}, nil
	}
	return folderSource{job.Input}, nil
}

// publish sends feature vectors to the FEATURES stream.
func (w *Worker) publish(ctx context.Context, vs []features.Vector) error {
	for i := range vs {
		data, err := features.Marshal(&vs[i])
		if err != nil {
			return err
		}
		if _, err := w.Bus.PublishFeatures(ctx, vs[i].StudyUID, vs[i].SeriesUID, data, nil); err != nil {
			return err
		}
	}
	return nil
}

// settle acknowledges, retries or fails a delivery according to err.
func (w *Worker) settle(ctx context.Context, j *bus.Job, rep *Report, err error, log *slog.Logger) {
	if err != nil && !permanent(err) && !j.LastAttempt() {
		w.Retried.Add(1)
		delay := w.RetryDelay
		if delay <= 0 {
			delay = 2 * time.Second
		}
		delay <<= min(j.Deliveries-1, 6)
		log.Warn("job failed, will retry", "err", err, "after", delay)
		w.Bus.PutStatus(ctx, bus.Status{ID: j.ID, State: bus.StateQueued, Reason: "retrying: " + err.Error()})
		j.NakWithDelay(delay)
		return
	}
	if err != nil {
		w.fail(ctx, j, err, log)
		return
	}
	st := bus.Status{ID: j.ID, State: bus.StateDone, Progress: 1, Device: rep.Device, Timings: map[string]time.Duration{}}
	for stage, s := range rep.Seconds {
		st.Timings[stage] = time.Duration(s * float64(time.Second))
	}
	if _, err := w.Bus.PutStatus(ctx, st); err != nil {
		log.Warn("writing the done status", "err", err)
	}
	if err := j.Ack(ctx); err != nil {
		log.Warn("acknowledging", "err", err)
		return
	}
	w.Done.Add(1)
	log.Info("job done", "study", rep.StudyInstanceUID, "output", rep.Job.Output)
}

// fail ends the job for good with the reason in its status. Its inputs (the
// scan on the bus, the folder) are left as they are.
func (w *Worker) fail(ctx context.Context, j *bus.Job, err error, log *slog.Logger) {
	w.Failed.Add(1)
	reason := err.Error()
	log.Error("job failed", "reason", reason)
	w.Bus.PutStatus(ctx, bus.Status{ID: j.ID, State: bus.StateFailed, Reason: reason})
	j.Term(reason)
}

// permanent reports whether err is about the job's data or spec, so that
// trying again cannot help.
func permanent(err error) bool {
	for _, e := range []error{ErrJob, sinogram.ErrFormat, sinogram.ErrManifest, sinogram.ErrIncomplete,
		sinogram.ErrCalibration, fdk.ErrGeometry, fdk.ErrProjection, dicomio.ErrInput} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// finished returns the report of a job whose outputs a delivery completed.
func finished(dir, id string) (*Report, bool) {
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return nil, false
	}
	var rep Report
	if json.Unmarshal(data, &rep) != nil || rep.JobID != id {
		return nil, false
	}
	return &rep, true
}
