package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestFeatures(t *testing.T) {
	e, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	const study = "1.2.826.0.1.3680043.2.1125.1"
	series := []string{study + ".1", study + ".2"}
	hdr := nats.Header{"Ctrecon-Extractor": []string{"histogram/v1"}}
	for i, s := range series {
		for want := range []bool{false, true} {
			dup, err := b.PublishFeatures(ctx, study, s, []byte{byte(i), 1, 2}, hdr)
			if err != nil {
				t.Fatal(err)
			}
			if dup != (want == 1) {
				t.Errorf("series %s publish %d: duplicate %v", s, want+1, dup)
			}
		}
	}

	// Like the search service after a restart: a new connection reads
	// everything from the start, and knows when it has caught up.
	for _, bus := range []*Bus{b, connect(t, e.ClientURL())} {
		got := collectFeatures(t, ctx, bus)
		if len(got) != 2 {
			t.Fatalf("read %d feature messages, want 2", len(got))
		}
		for i, f := range got {
			if f.StudyUID != study || f.SeriesUID != series[i] || f.Data[0] != byte(i) ||
				f.Header.Get("Ctrecon-Extractor") != "histogram/v1" || f.Sequence != uint64(i+1) {
				t.Errorf("feature %d: %+v", i, f)
			}
		}
	}

	// From now on: only what is published after it starts.
	fresh := make(chan Feature, 1)
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		errc <- b.ConsumeFeatures(ctx, false, func(f Feature) error {
			fresh <- f
			return ErrStop
		})
	}()
	<-started
	// The consumer may start after a first publish: publish until it sees one.
	var consumeErr error
	checkFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if _, err := b.PublishFeatures(ctx, study, study+".3", []byte(time.Now().String()), nil); err != nil {
			return err
		}
		select {
		case consumeErr = <-errc:
			return nil
		default:
			return errors.New("no new feature seen")
		}
	})
	if consumeErr != nil {
		t.Fatal(consumeErr)
	}
	if f := <-fresh; f.SeriesUID != study+".3" {
		t.Errorf("new-only consumer saw series %s", f.SeriesUID)
	}

	for _, uid := range []string{"", "1..2", "1.2.", "abc", "1.2.3-4", string(make([]byte, 65))} {
		if _, err := b.PublishFeatures(ctx, uid, series[0], nil, nil); !errors.Is(err, ErrInvalidID) {
			t.Errorf("study UID %q: %v", uid, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.ConsumeFeatures(cctx, true, func(Feature) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// A job's record published again, by another attempt of the job with
// other content, within the duplicate window is dropped: the first stays.
func TestPublishJobFeaturesDedup(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	const study = "1.2.826.0.1.3680043.2.1125.9"
	for i, series := range []string{study + ".1", study + ".2"} {
		dup, err := b.PublishJobFeatures(ctx, "job-1", "bin0/slice-1/hist-hu-v1", study, series, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		if dup != (i == 1) {
			t.Errorf("attempt %d: duplicate %v", i, dup)
		}
	}
	got := collectFeatures(t, ctx, b)
	if len(got) != 1 || got[0].SeriesUID != study+".1" || got[0].Header.Get(HeaderJobID) != "job-1" ||
		got[0].Header.Get(HeaderRecord) != "bin0/slice-1/hist-hu-v1" {
		t.Errorf("stored %+v, want the first attempt's record with its job and record headers", got)
	}
	if _, err := b.PublishJobFeatures(ctx, "a.b", "r", study, study+".1", nil); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad job ID: %v", err)
	}
}

// collectFeatures reads every message of FEATURES from the start, until it
// has caught up.
func collectFeatures(t *testing.T, ctx context.Context, b *Bus) []Feature {
	t.Helper()
	var got []Feature
	err := b.ConsumeFeatures(ctx, true, func(f Feature) error {
		got = append(got, f)
		if f.Pending == 0 {
			return ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
