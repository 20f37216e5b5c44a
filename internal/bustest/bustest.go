// Package bustest starts what tests of the pipeline need: an embedded
// JetStream server with its own storage on a free loopback port, and a
// connected, set-up bus, both closed when the test ends.
package bustest

import (
	"context"
	"strings"
	"testing"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/features/records"
)

// Start returns a bus set up with cfg on a new embedded server.
func Start(t testing.TB, cfg bus.Config) (*bus.Bus, *bus.Embedded) {
	t.Helper()
	ctx := context.Background()
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{DataDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return Connect(t, srv.ClientURL(), cfg), srv
}

// Connect returns a bus connected to url and set up with cfg.
func Connect(t testing.TB, url string, cfg bus.Config) *bus.Bus {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.Setup(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return b
}

// StartCluster forms an n-node cluster of embedded servers on loopback,
// shut down when the test ends, and returns its nodes and their client
// URLs, comma-separated.
func StartCluster(t testing.TB, n int) ([]*bus.Embedded, string) {
	t.Helper()
	nodes, err := bus.StartLocalCluster(context.Background(), n, bus.EmbeddedOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	urls := make([]string, n)
	for i, e := range nodes {
		urls[i] = e.ClientURL()
		t.Cleanup(e.Shutdown)
	}
	return nodes, strings.Join(urls, ",")
}

// PublishRecords publishes recs to the FEATURES stream as a worker does,
// one message per record.
func PublishRecords(t testing.TB, b *bus.Bus, recs []records.Record) {
	t.Helper()
	for i := range recs {
		data, err := records.Marshal(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.PublishFeatures(context.Background(), recs[i].StudyUID, recs[i].SeriesUID, data, nil); err != nil {
			t.Fatal(err)
		}
	}
}
