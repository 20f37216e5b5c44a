package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SubmitJob queues a job spec (JSON) on the JOBS work queue with the job ID
// as its message ID and in the Ctrecon-Job-Id header, and waits for the
// server's acknowledgement. Submitting the same ID again within the
// duplicate window stores nothing and reports duplicate, so a submit that
// timed out can simply be repeated.
//
// Write the job's queued Status before submitting, so that a worker's
// running status is never overwritten by it.
//
// Errors wrap ErrInvalidID, ErrTooLarge or the jetstream error.
func (b *Bus) SubmitJob(ctx context.Context, id string, spec []byte) (duplicate bool, err error) {
	if err := ValidID("job", id); err != nil {
		return false, err
	}
	msg := &nats.Msg{
		Subject: SubjectJobs,
		Header:  nats.Header{HeaderJobID: []string{id}},
		Data:    spec,
	}
	return b.publish(ctx, msg, id, "job "+id)
}

// pullWait bounds each pull request PullJob makes, so that a request
// abandoned by a cancelled context expires on the server soon and cannot
// take a job that nobody receives.
const pullWait = 5 * time.Second

// PullJob waits for the next job on the shared durable consumer "workers"
// and returns it; the job is this worker's until it is acknowledged,
// nak'd, terminated, or AckWait passes without InProgress.
//
// Errors wrap ErrNoJob together with the context's error when ctx ends
// first, or the jetstream error (for example ErrConsumerNotFound when Setup
// has not run).
func (b *Bus) PullJob(ctx context.Context) (*Job, error) {
	cons, err := b.workersConsumer(ctx)
	if err != nil {
		return nil, err
	}
	for {
		if err := expired(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoJob, err)
		}
		pctx, cancel := context.WithTimeout(ctx, pullWait)
		m, err := cons.Next(jetstream.FetchContext(pctx))
		cancel()
		switch {
		case err == nil:
			return newJob(m, cons.CachedInfo())
		case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
			errors.Is(err, context.Canceled):
			continue
		case errors.Is(err, jetstream.ErrInvalidOption) && expired(ctx) != nil:
			continue // the deadline passed while the request was being made
		default:
			return nil, fmt.Errorf("bus: pull job: %w", err)
		}
	}
}

// QueueDepth returns how many jobs wait in the work queue for a worker to
// take them: the workers consumer's pending messages, not counting jobs a
// worker holds (delivered, not yet acknowledged).
func (b *Bus) QueueDepth(ctx context.Context) (uint64, error) {
	cons, err := b.workersConsumer(ctx)
	if err != nil {
		return 0, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("bus: queue depth: %w", err)
	}
	return info.NumPending, nil
}

// expired returns ctx's error, or context.DeadlineExceeded once its deadline
// has passed even if ctx does not know yet.
func expired(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= 0 {
		return context.DeadlineExceeded
	}
	return nil
}

// Job is a job delivered to this worker by PullJob.
type Job struct {
	ID         string    // the job ID given to SubmitJob
	Spec       []byte    // the job spec given to SubmitJob
	Submitted  time.Time // when the server stored the job
	Deliveries int       // 1 on the first delivery, counting redeliveries
	MaxDeliver int       // the consumer's MaxDeliver; -1 for no limit

	ackWait time.Duration
	msg     jetstream.Msg
}

func newJob(m jetstream.Msg, info *jetstream.ConsumerInfo) (*Job, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("bus: job message: %w", err)
	}
	id := m.Headers().Get(HeaderJobID)
	if id == "" {
		id = m.Headers().Get(jetstream.MsgIDHeader)
	}
	j := &Job{
		ID:         id,
		Spec:       m.Data(),
		Submitted:  meta.Timestamp,
		Deliveries: int(meta.NumDelivered),
		MaxDeliver: -1,
		ackWait:    DefaultAckWait,
		msg:        m,
	}
	if info != nil {
		j.MaxDeliver = info.Config.MaxDeliver
		if info.Config.AckWait > 0 {
			j.ackWait = info.Config.AckWait
		}
	}
	return j, nil
}

// LastAttempt reports whether this is the last delivery the consumer will
// make: if the job fails now the worker should Term it and write a failed
// Status.
func (j *Job) LastAttempt() bool {
	return j.MaxDeliver > 0 && j.Deliveries >= j.MaxDeliver
}

// InProgress tells the server the job is still being worked on, restarting
// its AckWait. It does not wait for the server.
func (j *Job) InProgress() error {
	if err := j.msg.InProgress(); err != nil {
		return fmt.Errorf("bus: job %s in progress: %w", j.ID, err)
	}
	return nil
}

// KeepAlive sends InProgress every interval (a third of the consumer's
// AckWait if interval is not positive) until stop is called or ctx ends.
// stop waits for the sender to finish; call it before Ack, Nak or Term.
func (j *Job) KeepAlive(ctx context.Context, interval time.Duration) (stop func()) {
	if interval <= 0 {
		interval = j.ackWait / 3
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = j.msg.InProgress() // a lost heartbeat shows as a redelivery
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// Ack reports the job done and waits until the server has removed it from
// the work queue, so that it is not redelivered.
func (j *Job) Ack(ctx context.Context) error {
	if err := j.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("bus: ack job %s: %w", j.ID, err)
	}
	return nil
}

// NakWithDelay hands the job back for redelivery, to this or another
// worker, after delay. It does not wait for the server.
func (j *Job) NakWithDelay(delay time.Duration) error {
	if err := j.msg.NakWithDelay(delay); err != nil {
		return fmt.Errorf("bus: nak job %s: %w", j.ID, err)
	}
	return nil
}

// Term ends the job's deliveries for good, with a reason the server puts in
// its termination advisory. It does not wait for the server. Write a failed
// Status with the same reason: the work queue does not keep it.
func (j *Job) Term(reason string) error {
	if err := j.msg.TermWithReason(reason); err != nil {
		return fmt.Errorf("bus: terminate job %s: %w", j.ID, err)
	}
	return nil
}
