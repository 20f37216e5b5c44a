package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestSubmitJobDedup(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	for i, want := range []bool{false, true, true} {
		dup, err := b.SubmitJob(ctx, "job-42", []byte(`{"bins":[0,1]}`))
		if err != nil {
			t.Fatal(err)
		}
		if dup != want {
			t.Errorf("submit %d: duplicate = %v, want %v", i+1, dup, want)
		}
	}
	if n := streamState(t, b, StreamJobs).Msgs; n != 1 {
		t.Errorf("JOBS holds %d messages, want 1", n)
	}
	j, err := b.PullJob(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "job-42" || string(j.Spec) != `{"bins":[0,1]}` || j.Deliveries != 1 || j.MaxDeliver != DefaultMaxDeliver {
		t.Errorf("job %+v", j)
	}
	if err := j.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// Acknowledged work leaves the queue.
	checkFor(t, 2*time.Second, 10*time.Millisecond, func() error {
		if n := streamState(t, b, StreamJobs).Msgs; n != 0 {
			return fmt.Errorf("JOBS holds %d messages after the ack", n)
		}
		return nil
	})
	if _, err := b.SubmitJob(ctx, "job 42", nil); !errors.Is(err, ErrInvalidID) {
		t.Errorf("job ID with a space: %v", err)
	}
}

// TestCompetingWorkers has two workers, each with its own connection, pull
// from the shared durable consumer: every job goes to exactly one.
func TestCompetingWorkers(t *testing.T) {
	e, b := newBus(t, Config{})
	ctx := testContext(t, 20*time.Second)
	const jobs = 40
	for i := range jobs {
		if _, err := b.SubmitJob(ctx, fmt.Sprintf("job-%02d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	workers := []*Bus{connect(t, e.ClientURL()), connect(t, e.ClientURL())}

	// While the first worker holds a job, the second gets another.
	held, err := workers[0].PullJob(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := workers[1].PullJob(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if held.ID == other.ID {
		t.Fatalf("both workers got %s", held.ID)
	}
	got := [2][]string{{held.ID}, {other.ID}}
	for _, j := range []*Job{held, other} {
		if err := j.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Then both drain the queue concurrently.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	var mu sync.Mutex
	total := 2
	for w, bus := range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				finished := total == jobs
				mu.Unlock()
				if finished {
					return
				}
				pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				j, err := bus.PullJob(pctx)
				cancel()
				if errors.Is(err, ErrNoJob) {
					continue
				}
				if err == nil {
					err = j.Ack(ctx)
				}
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				got[w] = append(got[w], j.ID)
				total++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("worker 1 took %d jobs, worker 2 took %d", len(got[0]), len(got[1]))
	all := append(slices.Clone(got[0]), got[1]...)
	slices.Sort(all)
	if len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Errorf("a job went to both workers: %v and %v", got[0], got[1])
	}
	if len(all) != jobs {
		t.Errorf("workers took %d jobs, want %d", len(all), jobs)
	}
}

// TestNakUntilMaxDeliverThenTerm follows a job that fails every time: it is
// seen on each of MaxDeliver deliveries, then terminated with a reason and
// a failed status, and not seen again.
func TestNakUntilMaxDeliverThenTerm(t *testing.T) {
	_, b := newBus(t, Config{MaxDeliver: 3})
	ctx := testContext(t, 20*time.Second)

	// The server announces the termination, with our reason.
	advisories, err := b.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED." + StreamJobs + "." + ConsumerWorkers)
	if err != nil {
		t.Fatal(err)
	}
	defer advisories.Unsubscribe()

	if _, err := b.PutStatus(ctx, Status{ID: "doomed", State: StateQueued}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SubmitJob(ctx, "doomed", []byte("spec")); err != nil {
		t.Fatal(err)
	}
	for want := 1; ; want++ {
		j, err := b.PullJob(ctx)
		if err != nil {
			t.Fatalf("delivery %d: %v", want, err)
		}
		if j.ID != "doomed" || j.Deliveries != want {
			t.Fatalf("delivery %d: job %s delivered %d times", want, j.ID, j.Deliveries)
		}
		if !j.LastAttempt() {
			if err := j.NakWithDelay(20 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if want != 3 {
			t.Fatalf("last attempt at delivery %d, want 3", want)
		}
		reason := "back-projection failed 3 times: out of memory"
		if err := j.Term(reason); err != nil {
			t.Fatal(err)
		}
		if _, err := b.PutStatus(ctx, Status{ID: j.ID, State: StateFailed, Reason: reason}); err != nil {
			t.Fatal(err)
		}
		break
	}

	m, err := advisories.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no termination advisory: %v", err)
	}
	var adv struct {
		Reason     string `json:"reason"`
		Deliveries int    `json:"deliveries"`
	}
	if err := json.Unmarshal(m.Data, &adv); err != nil {
		t.Fatal(err)
	}
	if adv.Reason != "back-projection failed 3 times: out of memory" || adv.Deliveries != 3 {
		t.Errorf("advisory: %s", m.Data)
	}
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if j, err := b.PullJob(pctx); !errors.Is(err, ErrNoJob) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after Term: job %v, err %v; want ErrNoJob", j, err)
	}
	checkFor(t, 2*time.Second, 10*time.Millisecond, func() error {
		if n := streamState(t, b, StreamJobs).Msgs; n != 0 {
			return fmt.Errorf("JOBS holds %d messages after Term", n)
		}
		return nil
	})
	s, err := b.GetStatus(ctx, "doomed")
	if err != nil {
		t.Fatal(err)
	}
	if s.State != StateFailed || s.Reason == "" {
		t.Errorf("status %+v", s)
	}
}

// TestKeepAlive holds a job past its AckWait with InProgress heartbeats;
// without them it is redelivered.
func TestKeepAlive(t *testing.T) {
	e, b := newBus(t, Config{AckWait: time.Second})
	ctx := testContext(t, 20*time.Second)
	other := connect(t, e.ClientURL())
	if _, err := b.SubmitJob(ctx, "long", nil); err != nil {
		t.Fatal(err)
	}
	j, err := b.PullJob(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop := j.KeepAlive(ctx, 200*time.Millisecond)
	pctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if got, err := other.PullJob(pctx); !errors.Is(err, ErrNoJob) {
		t.Fatalf("another worker got %v (%v) while the job was kept alive", got, err)
	}
	stop()
	again, err := other.PullJob(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != "long" || again.Deliveries != 2 {
		t.Errorf("redelivered %s, delivery %d", again.ID, again.Deliveries)
	}
	if err := again.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// The first worker's late ack is refused or ignored, never an error that
	// hides the job: the job is done.
	_ = j.Ack(ctx)
}

func TestPullJobWithoutSetup(t *testing.T) {
	e := startServer(t, EmbeddedOptions{})
	b := connect(t, e.ClientURL())
	_, err := b.PullJob(testContext(t, 5*time.Second))
	if !errors.Is(err, ErrNotSetUp) {
		t.Fatalf("err = %v, want ErrNotSetUp", err)
	}
	wantErr(t, err, "consumer workers")
}
