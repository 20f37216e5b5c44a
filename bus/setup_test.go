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

	snapshot := func() map[string]any {
		t.Helper()
		got := map[string]any{}
		for _, name := range []string{StreamScans, StreamJobs, StreamFeatures, "KV_" + BucketStatus, "OBJ_" + BucketProjections} {
			s, err := b.js.Stream(ctx, name)
			if err != nil {
				t.Fatalf("stream %s: %v", name, err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got[name] = info.Config
		}
		c, err := b.js.Consumer(ctx, StreamJobs, ConsumerWorkers)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got[ConsumerWorkers] = info.Config
		return got
	}
	first := snapshot()
	// Something in the streams must survive a second Setup, too.
	if _, err := b.SubmitJob(ctx, "job-1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.Setup(ctx, Config{MaxDeliver: 4, AckWait: 10 * time.Second}); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	if second := snapshot(); !reflect.DeepEqual(first, second) {
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
	if got := snapshot()[ConsumerWorkers].(jetstream.ConsumerConfig).MaxDeliver; got != 7 {
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
		{"ack wait", Config{AckWait: time.Millisecond}, "AckWait 1ms"},
		{"backoff length", Config{MaxDeliver: 2, BackOff: []time.Duration{time.Second, time.Second, time.Second}}, "3 BackOff"},
		{"backoff value", Config{BackOff: []time.Duration{time.Second, 0}}, "BackOff[1]"},
		{"scans age", Config{ScansMaxAge: time.Minute}, "ScansMaxAge 1m0s"},
		{"history", Config{StatusHistory: 65}, "StatusHistory 65"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.withDefaults()
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
