package bus

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestSetupIdempotent(t *testing.T) {
	_, b := newBus(t, Config{MaxDeliver: 4, AckWait: 10 * time.Second})
	ctx := testContext(t, 10*time.Second)

	first := deployment(t, b)
	// Something in the streams must survive a second Setup, too.
	if _, err := b.SubmitJob(ctx, "job-1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.Setup(ctx, Config{MaxDeliver: 4, AckWait: 10 * time.Second}); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	if second := deployment(t, b); !reflect.DeepEqual(first, second) {
		t.Errorf("second Setup changed the configuration:\nfirst  %+v\nsecond %+v", first, second)
	}
	if n := streamState(t, b, StreamJobs).Msgs; n != 1 {
		t.Errorf("JOBS holds %d messages after a second Setup, want 1", n)
	}

	jobs := first[StreamJobs].(jetstream.StreamConfig)
	if jobs.Retention != jetstream.WorkQueuePolicy || jobs.Storage != jetstream.FileStorage {
		t.Errorf("JOBS retention %v storage %v, want work queue on file", jobs.Retention, jobs.Storage)
	}
	scans := first[StreamScans].(jetstream.StreamConfig)
	if scans.Duplicates != DefaultDuplicateWindow || scans.MaxMsgsPerSubject != 1 {
		t.Errorf("SCANS duplicates %v, max per subject %d", scans.Duplicates, scans.MaxMsgsPerSubject)
	}
	features := first[StreamFeatures].(jetstream.StreamConfig)
	if features.Retention != jetstream.LimitsPolicy || features.MaxAge != 0 || features.MaxMsgs != -1 || features.MaxBytes != -1 {
		t.Errorf("FEATURES does not keep everything: %+v", features)
	}
	workers := first[ConsumerWorkers].(jetstream.ConsumerConfig)
	if workers.Durable != ConsumerWorkers || workers.AckPolicy != jetstream.AckExplicitPolicy ||
		workers.MaxDeliver != 4 || workers.AckWait != 10*time.Second {
		t.Errorf("workers consumer: %+v", workers)
	}

	// A changed Config updates in place.
	if err := b.Setup(ctx, Config{MaxDeliver: 7, AckWait: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := deployment(t, b)[ConsumerWorkers].(jetstream.ConsumerConfig).MaxDeliver; got != 7 {
		t.Errorf("MaxDeliver after update = %d, want 7", got)
	}
}

func TestSetupRejectsConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"replicas", Config{Replicas: 6}, "Replicas 6"},
		{"max deliver", Config{MaxDeliver: -2}, "MaxDeliver -2"},
		{"backoff longer than the default max deliver", Config{BackOff: []time.Duration{1, 1, 1, 1, 1, 1}}, "6 BackOff"},
		{"ack wait", Config{AckWait: time.Millisecond}, "AckWait 1ms"},
		{"backoff length", Config{MaxDeliver: 2, BackOff: []time.Duration{time.Second, time.Second, time.Second}}, "3 BackOff"},
		{"backoff value", Config{BackOff: []time.Duration{time.Second, 0}}, "BackOff[1]"},
		{"scans age", Config{ScansMaxAge: time.Minute}, "ScansMaxAge 1m0s"},
		{"history", Config{StatusHistory: 65}, "StatusHistory 65"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.validate()
			if err == nil {
				_, err = tc.cfg.scans(jetstream.StreamConfig{})
			}
			if err == nil {
				_, err = tc.cfg.workers(jetstream.ConsumerConfig{}, 1)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			wantErr(t, err, tc.want)
		})
	}
}

func TestSetupReplicasNeedServers(t *testing.T) {
	_, b := newBus(t, Config{})
	err := b.Setup(testContext(t, 10*time.Second), Config{Replicas: 3})
	if err == nil {
		t.Fatal("Setup with 3 replicas on one server succeeded")
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	wantErr(t, err, "not in a cluster")
}

// deployment returns the configuration of every stream (the buckets'
// included) and of the workers consumer, by name.
func deployment(t testing.TB, b *Bus) map[string]any {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	got := map[string]any{}
	for _, name := range []string{StreamScans, StreamJobs, StreamFeatures, "KV_" + BucketStatus, "OBJ_" + BucketProjections, "KV_" + BucketDeployment} {
		s, err := b.js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		got[name] = s.CachedInfo().Config
	}
	c, err := b.js.Consumer(ctx, StreamJobs, ConsumerWorkers)
	if err != nil {
		t.Fatal(err)
	}
	got[ConsumerWorkers] = c.CachedInfo().Config
	return got
}

// setupChangesNothing runs Setup(Config{}), what a restarted `ctrecon
// serve` without flags asks, checks that the deployment is as it was, and
// returns it.
func setupChangesNothing(t testing.TB, b *Bus) map[string]any {
	t.Helper()
	before := deployment(t, b)
	if err := b.Setup(testContext(t, 30*time.Second), Config{}); err != nil {
		t.Fatal(err)
	}
	if after := deployment(t, b); !reflect.DeepEqual(before, after) {
		t.Errorf("Setup without settings changed the deployment:\nbefore %+v\nafter  %+v", before, after)
	}
	return before
}

// Setup with fields not given keeps what is deployed: on a three-node
// cluster with three replicas and a 2 s ack wait, Setup(Config{}) (what a
// restarted `ctrecon serve` without flags asks) changes nothing, and a
// given ack wait changes that alone. Before, every zero field meant its
// default and scaled the deployment down to one replica.
func TestSetupKeepsDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-node cluster")
	}
	_, urls := startCluster(t, 3)
	b := connect(t, urls)
	ctx := testContext(t, 60*time.Second)
	if err := b.Setup(ctx, Config{Replicas: 3, AckWait: 2 * time.Second, StatusHistory: 9}); err != nil {
		t.Fatal(err)
	}
	first := setupChangesNothing(t, b)
	if err := b.Setup(ctx, Config{AckWait: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	third := deployment(t, b)
	workers := third[ConsumerWorkers].(jetstream.ConsumerConfig)
	if workers.AckWait != 3*time.Second {
		t.Errorf("ack wait %v after Setup with 3s", workers.AckWait)
	}
	workers.AckWait = 2 * time.Second
	third[ConsumerWorkers] = workers
	if !reflect.DeepEqual(first, third) {
		t.Errorf("Setup with an ack wait changed more than the ack wait:\nbefore %+v\nafter  %+v", first, third)
	}
}

// A BackOff set up once survives a Setup that does not mention it; an ack
// wait given alone replaces it.
func TestSetupKeepsBackOff(t *testing.T) {
	backoff := []time.Duration{2 * time.Second, 4 * time.Second}
	_, b := newBus(t, Config{BackOff: backoff, MaxDeliver: 3, ScansMaxAge: time.Hour})
	ctx := testContext(t, 10*time.Second)
	setupChangesNothing(t, b)
	if err := b.Setup(ctx, Config{AckWait: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	w := deployment(t, b)[ConsumerWorkers].(jetstream.ConsumerConfig)
	if w.AckWait != 5*time.Second || len(w.BackOff) != 0 || w.MaxDeliver != 3 {
		t.Errorf("after Setup with AckWait 5s: ack wait %v, backoff %v, max deliver %d", w.AckWait, w.BackOff, w.MaxDeliver)
	}
}

// Lookup finds a deployment that Setup made and changes nothing; without
// one it names what is missing.
func TestLookup(t *testing.T) {
	e := startServer(t, EmbeddedOptions{})
	ctx := testContext(t, 10*time.Second)
	client := connect(t, e.ClientURL())
	err := client.Lookup(ctx)
	if !errors.Is(err, ErrNotSetUp) {
		t.Fatalf("Lookup before Setup: err = %v, want ErrNotSetUp", err)
	}
	wantErr(t, err, StreamScans)
	names := client.js.StreamNames(ctx)
	for name := range names.Name() {
		t.Errorf("Lookup created stream %s", name)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}

	owner := connect(t, e.ClientURL())
	if err := owner.Setup(ctx, Config{AckWait: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	before := deployment(t, owner)
	if err := client.Lookup(ctx); err != nil {
		t.Fatal(err)
	}
	if after := deployment(t, owner); !reflect.DeepEqual(before, after) {
		t.Errorf("Lookup changed the deployment:\nbefore %+v\nafter  %+v", before, after)
	}
	if _, err := client.SubmitJob(ctx, "looked-up", nil); err != nil {
		t.Fatal(err)
	}
	j, err := client.PullJob(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "looked-up" || j.ackWait != 2*time.Second {
		t.Errorf("job %s with ack wait %v, want looked-up with the deployed 2s", j.ID, j.ackWait)
	}
	if err := j.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}
