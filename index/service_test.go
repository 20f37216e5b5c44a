package index

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features"
	"github.com/ctrecon/ctrecon/internal/bustest"
)

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
