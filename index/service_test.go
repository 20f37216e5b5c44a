package index

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/internal/bustest"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A service started after the vectors were published, as after a restart,
// rebuilds the same index from the features stream, then keeps following it.
func TestServiceRebuildsFromStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, _ := bustest.Start(t, bus.Config{})
	publish := func(series string, slices int) {
		for s := -1; s < slices; s++ {
			v := features.Vector{StudyUID: "1.2.3", SeriesUID: series, Slice: s, Kind: "hist-hu-v1", Values: []float32{float32(s + 1), 1, 0.5}}
			data, err := features.Marshal(&v)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.PublishFeatures(ctx, v.StudyUID, v.SeriesUID, data, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("1.2.3.4", 3)
	for round, want := range []int{4, 4 + 5} {
		svc := NewService()
		fctx, stop := context.WithCancel(ctx)
		go svc.Follow(fctx, b, slog.Default())
		if round == 1 {
			publish("1.2.3.5", 4) // while following
		}
		deadline := time.Now().Add(10 * time.Second)
		for svc.Len() != want || !svc.Ready() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d vectors, ready %v; want %d", round, svc.Len(), svc.Ready(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
	}
}

// Two attempts at one job that each published the job's records under
// their own UIDs (the second after the stream's duplicate window, as a raw
// copy here) leave one set in the index: the first.
func TestServiceIndexesAJobsRecordOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, _ := bustest.Start(t, bus.Config{})
	for i, series := range []string{"1.2.3.4", "1.2.3.5"} {
		v := features.Vector{StudyUID: "1.2.3", SeriesUID: series, Slice: -1, Kind: "hist-hu-v1", Values: []float32{1, 2, 3}}
		data, err := features.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		msg := &nats.Msg{Subject: "features.1_2_3." + strings.ReplaceAll(series, ".", "_"), Data: data, Header: nats.Header{
			bus.HeaderJobID: {"job-1"}, bus.HeaderRecord: {"bin0/slice-1/hist-hu-v1"},
			bus.HeaderStudyUID: {v.StudyUID}, bus.HeaderSeriesUID: {series}}}
		if _, err := b.JetStream().PublishMsg(ctx, msg); err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
	}
	svc := NewService()
	done := make(chan struct{})
	go func() { defer close(done); svc.Follow(ctx, b, slog.Default()) }()
	for deadline := time.Now().Add(10 * time.Second); !svc.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the service did not catch up with the stream")
		}
	}
	if _, _, ok := svc.ix.Get("1.2.3.4"); svc.Len() != 1 || !ok {
		t.Errorf("index holds %d vectors (first copy there: %v), want the first copy only", svc.Len(), ok)
	}
	cancel()
	<-done
}
