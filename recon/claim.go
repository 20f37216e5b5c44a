package recon

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/ctrecon/ctrecon/bus"
)

// A worker holds a job through its status in JOBS_STATUS: it claims the
// job by writing a status that names its attempt on top of the latest one
// (a compare-and-set on the revision), and writes every later status the
// same way. A worker that went silent longer than the ack wait (a long
// pause, a partition) finds on waking that another attempt or a cancel
// wrote the status since: its writes fail, a watch on the status tells it
// at once, and it publishes nothing. See Worker for what is fenced.

// errLost is wrapped by the error of an attempt that lost its job.
var errLost = errors.New("lost the job")

// lostError says who has the job now, or who cancelled it.
type lostError struct{ latest bus.Status }

func (e *lostError) Error() string {
	if e.latest.State == bus.StateCancelled {
		return "cancelled by " + e.latest.CancelledBy
	}
	return fmt.Sprintf("lost the job to attempt %s (%s)", e.latest.Attempt, e.latest.State)
}

func (e *lostError) Unwrap() error { return errLost }

// claim is one attempt's hold on a job.
type claim struct {
	bus     *bus.Bus
	id      string
	attempt string
	lose    context.CancelCauseFunc // ends the attempt's context

	mu       sync.Mutex
	rev      uint64  // of the latest status this attempt wrote
	device   string  // of the latest status this attempt wrote that named one
	progress float64 // and its progress
}

// claimJob claims job id for attempt, on top of whatever status the job
// has, and returns the claim. A job that is over (done, failed or
// cancelled) is not claimed: the claim is nil and prior says how it ended.
// lose is called with a *lostError once the claim is lost.
func claimJob(ctx context.Context, b *bus.Bus, id, attempt string, lose context.CancelCauseFunc) (c *claim, prior bus.Status, err error) {
	for range 10 {
		prior, err = b.GetStatus(ctx, id)
		if err != nil && !errors.Is(err, bus.ErrNotFound) {
			return nil, prior, err
		}
		if prior.State.Final() {
			return nil, prior, nil
		}
		rev, err := b.UpdateStatus(ctx, bus.Status{ID: id, State: bus.StateRunning, Attempt: attempt}, prior.Revision)
		if errors.Is(err, bus.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, prior, err
		}
		return &claim{bus: b, id: id, attempt: attempt, lose: lose, rev: rev}, prior, nil
	}
	return nil, prior, fmt.Errorf("job %s: status changed ten times while claiming it", id)
}

// ours reports whether s was written by this attempt.
func (c *claim) ours(s bus.Status) bool {
	return s.Attempt == c.attempt && s.State != bus.StateCancelled
}

// lost ends the attempt and returns its error.
func (c *claim) lost(latest bus.Status) error {
	err := &lostError{latest}
	c.lose(err)
	return err
}

// put writes st, naming this attempt, as the job's status if the latest
// status is still this attempt's; otherwise the claim is lost and the
// error wraps errLost.
func (c *claim) put(ctx context.Context, st bus.Status) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st.ID, st.Attempt = c.id, c.attempt
	for range 2 {
		rev, err := c.bus.UpdateStatus(ctx, st, c.rev)
		if err == nil {
			c.rev = rev
			if st.Device != "" {
				c.device, c.progress = st.Device, st.Progress
			}
			return nil
		}
		if !errors.Is(err, bus.ErrConflict) {
			return err
		}
		latest, err := c.bus.GetStatus(ctx, c.id)
		if err != nil {
			return err
		}
		if !c.ours(latest) {
			return c.lost(latest)
		}
		c.rev = latest.Revision // a write of ours whose answer was lost
	}
	return fmt.Errorf("job %s: status keeps changing under attempt %s", c.id, c.attempt)
}

// last returns the device and progress of the latest status this attempt
// wrote that named a device: how far a job that fails got, and where.
func (c *claim) last() (device string, progress float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.device, c.progress
}

// check returns an error wrapping errLost unless the job's latest status
// is this attempt's. Every result that leaves the worker (the output
// folder, the features, the PACS upload) is checked just before.
func (c *claim) check(ctx context.Context) error {
	latest, err := c.bus.GetStatus(ctx, c.id)
	if err != nil {
		return err
	}
	if !c.ours(latest) {
		return c.lost(latest)
	}
	return nil
}

// watch ends the attempt as soon as someone else writes the job's status,
// so a worker that wakes from a pause, or whose job is cancelled, stops
// at once rather than at its next write. stop ends the watch.
func (c *claim) watch(ctx context.Context) (stop func()) {
	wctx, cancel := context.WithCancel(ctx)
	updates, err := c.bus.WatchStatus(wctx, c.id)
	if err != nil {
		cancel()
		return func() {} // the writes and checks still fence the attempt
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s := range updates {
			if !c.ours(s) {
				c.lost(s)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// follow stops a slab's attempt as soon as its job is over (cancelled, or
// failed for another slab) by writing the slab's status cancelled, naming
// why, and ending the attempt as a cancel does: the slab's worker stops
// mid-reconstruction, wherever it runs. stop ends the watch.
func (c *claim) follow(ctx context.Context, job string) (stop func()) {
	wctx, cancel := context.WithCancel(ctx)
	updates, err := c.bus.WatchStatus(wctx, job)
	if err != nil {
		cancel()
		return func() {} // the slab runs to its end, and its job ignores it
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s := range updates {
			if s.State != bus.StateCancelled && s.State != bus.StateFailed {
				continue
			}
			st := bus.Status{State: bus.StateCancelled, CancelledBy: cmp.Or(s.CancelledBy, "job "+job),
				Reason: fmt.Sprintf("job %s %s: %s", job, s.State, s.Reason)}
			if err := c.put(wctx, st); err == nil {
				c.lost(st)
			}
			return
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// newAttempt names one attempt at a job: host, process, delivery and
// random bits, in letters, digits, '-' and '_'.
func newAttempt(delivery int) string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, host)
	r := make([]byte, 3)
	rand.Read(r)
	return fmt.Sprintf("%.32s-%d-%d-%s", host, os.Getpid(), delivery, hex.EncodeToString(r))
}
