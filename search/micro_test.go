package search

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/internal/bustest"
)

// TestNATSReplicas: two replicas of the service in one queue group on a
// real NATS server share the queries, each answer the library's; with one
// stopped the other answers all; a bad query is an error naming what is
// wrong; the service answers discovery.
func TestNATSReplicas(t *testing.T) {
	b, srv := bustest.Start(t, bus.Config{})
	recs := fixtureRecords(20, 30)
	var svcs []micro.Service
	var rbs []*bus.Bus
	var lib *Library
	for range 2 {
		lib = openFixture(t, Config{}, recs)
		rb := bustest.Connect(t, srv.ClientURL(), bus.Config{})
		rbs = append(rbs, rb)
		svc, err := lib.ServeNATS(rb.Conn(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Stop() })
		svcs = append(svcs, svc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hang guard
	defer cancel()
	ask := func(n int) {
		for i := range n {
			r := ofKind(recs, "radiomics-v1")[i%10]
			q := Query{Kind: "radiomics-v1", Like: ItemOf(&r).String(), K: 5, Filter: "bin = 0"}
			got, err := AskNATS(ctx, b.Conn(), q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := lib.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !sameHits(got, want) || got.Index != want.Index {
				t.Fatalf("%+v over NATS: %+v, want %+v", q, got.Hits, want.Hits)
			}
		}
	}
	ask(40)
	for i, svc := range svcs {
		if n := svc.Stats().Endpoints[0].NumRequests; n == 0 {
			t.Errorf("replica %d answered none of 40 queries", i)
		}
	}
	svcs[0].Stop()
	if err := rbs[0].Conn().Flush(); err != nil { // the server has dropped its subscriptions (Stop drains)
		t.Fatal(err)
	}
	before := svcs[1].Stats().Endpoints[0].NumRequests
	ask(10)
	if n := svcs[1].Stats().Endpoints[0].NumRequests; n != before+10 {
		t.Errorf("the replica left answered %d of 10 queries", n-before)
	}
	_, err := AskNATS(ctx, b.Conn(), Query{Filter: "colour = 'red'"})
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), `unknown field "colour"`) {
		t.Errorf("a bad query over NATS: %v, want a 400 naming colour", err)
	}
	msg, err := b.Conn().RequestWithContext(ctx, "$SRV.INFO."+ServiceName, nil)
	var info micro.Info
	if err != nil || json.Unmarshal(msg.Data, &info) != nil || info.Name != ServiceName || len(info.Endpoints) != 2 || info.Endpoints[0].QueueGroup != QueueGroup {
		t.Errorf("discovery: %v %+v, want %s with 2 endpoints in queue group %s", err, info, ServiceName, QueueGroup)
	}
}
