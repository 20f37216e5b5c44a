package bus

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func itoa(i int) string { return strconv.Itoa(i) }

func TestStartEmbeddedRejects(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	for _, tc := range []struct {
		name string
		o    EmbeddedOptions
		want string
	}{
		{"no data dir", EmbeddedOptions{Port: -1}, "DataDir is required"},
		{"port", EmbeddedOptions{DataDir: t.TempDir(), Port: 70000}, "Port 70000"},
		{"routes without port", EmbeddedOptions{DataDir: t.TempDir(), Routes: []string{"nats-route://127.0.0.1:1"}}, "ClusterPort"},
		{"cluster without routes", EmbeddedOptions{DataDir: t.TempDir(), ClusterPort: -1}, "needs Routes"},
		{"bad route", EmbeddedOptions{DataDir: t.TempDir(), ClusterPort: -1, Routes: []string{"http://x"}}, `route "http://x"`},
		{"payload", EmbeddedOptions{DataDir: t.TempDir(), MaxPayload: 65 << 20}, "MaxPayload"},
		{"password alone", EmbeddedOptions{DataDir: t.TempDir(), Password: "x"}, "Password without a Username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := StartEmbedded(ctx, tc.o)
			if e != nil {
				e.Shutdown()
				e.WaitForShutdown()
			}
			if !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("err = %v, want ErrInvalidOption", err)
			}
			wantErr(t, err, tc.want)
		})
	}
}

func TestStartEmbeddedPortInUse(t *testing.T) {
	first := startServer(t, EmbeddedOptions{})
	port := first.Options().Port
	start := time.Now()
	e, err := StartEmbedded(testContext(t, 10*time.Second), EmbeddedOptions{DataDir: t.TempDir(), Port: port})
	if err == nil {
		e.Shutdown()
		e.WaitForShutdown()
		t.Fatal("second server on the same port started")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("err = %v, want syscall.EADDRINUSE", err)
	}
	wantErr(t, err, itoa(port))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to report %v", d, err)
	}
}

// A cluster port another process holds is reported as EADDRINUSE naming
// the port, as the client port is, so that StartLocalCluster can pick new
// ports when one it found free is taken before its server binds it (a
// parallel test's did, failing recon's TestClusterSurvivesANode). The
// explanation is checked on its own: a JetStream node that fails on its
// cluster port leaves nats-server's file-store goroutines running.
func TestStartFailedClusterPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = startFailed(&server.Options{Host: "127.0.0.1", Port: -1, Cluster: server.ClusterOpts{Port: port}}, "Error listening on router port")
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("err = %v, want syscall.EADDRINUSE", err)
	}
	wantErr(t, err, "cluster port "+itoa(port))
}

// TestCluster forms a three-node cluster on loopback, keeps three replicas of
// everything, and shuts down the node that leads the SCANS stream: the
// client reconnects to another node, publishes go on, and the status bucket
// and the job queue keep serving.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-node cluster")
	}
	start := time.Now()
	nodes, urls := startCluster(t, 3)
	t.Logf("cluster formed in %v", time.Since(start).Round(time.Millisecond))
	ctx := testContext(t, 45*time.Second)
	b := connect(t, urls)
	if err := b.Setup(ctx, Config{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.Setup(ctx, Config{Replicas: 3}); err != nil {
		t.Fatalf("second Setup on the cluster: %v", err)
	}
	if _, err := b.PutStatus(ctx, Status{ID: "c1", State: StateRunning, Progress: 0.1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SubmitJob(ctx, "c1", []byte("spec")); err != nil {
		t.Fatal(err)
	}
	info, err := b.js.Stream(ctx, StreamScans)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.CachedInfo().Cluster; info.CachedInfo().Config.Replicas != 3 || c == nil || len(c.Replicas) != 2 {
		t.Fatalf("SCANS is not on three nodes: %+v", c)
	}
	victim := -1
	for i, e := range nodes {
		if e.srv.JetStreamIsStreamLeader("$G", StreamScans) {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatal("no node leads SCANS")
	}
	// This client knows only the node about to go; the others are gossiped.
	b = connect(t, nodes[victim].ClientURL())

	const frames = 20
	publish := func(v int) error {
		// Repeat until acknowledged, as acquire does; dedup keeps one copy.
		for {
			pctx, cancel := testContextRetry(ctx)
			_, err := b.PublishFrame(pctx, "cl", 1, v, []byte(fmt.Sprint(v)), nil)
			cancel()
			if err == nil || ctx.Err() != nil {
				return err
			}
		}
	}
	for v := range frames / 2 {
		if err := publish(v); err != nil {
			t.Fatal(err)
		}
	}

	down := time.Now()
	nodes[victim].Shutdown()
	nodes[victim].WaitForShutdown()
	t.Logf("shut down %s, leader of %s", nodes[victim].Name(), StreamScans)

	for v := frames / 2; v < frames; v++ {
		if err := publish(v); err != nil {
			t.Fatalf("frame %d after the leader left: %v", v, err)
		}
		if v == frames/2 {
			t.Logf("first publish acknowledged %v after the shutdown", time.Since(down).Round(time.Millisecond))
		}
	}
	var s Status
	// Each try has a deadline of its own: a request that reaches a node
	// still electing the bucket's leader gets no answer, and waiting for
	// it on the test's context would spend the whole test.
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		pctx, cancel := testContextRetry(ctx)
		defer cancel()
		if _, err := b.PutStatus(pctx, Status{ID: "c1", State: StateRunning, Progress: 0.9}); err != nil {
			return err
		}
		s, err = b.GetStatus(pctx, "c1")
		return err
	})
	if s.Progress != 0.9 {
		t.Errorf("status after failover %+v", s)
	}
	var j *Job
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		pctx, cancel := testContextRetry(ctx)
		defer cancel()
		j, err = b.PullJob(pctx)
		return err
	})
	if j.ID != "c1" {
		t.Errorf("job after failover: %s", j.ID)
	}
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		pctx, cancel := testContextRetry(ctx)
		defer cancel()
		return j.Ack(pctx)
	})
	t.Logf("status, jobs and frames served %v after the shutdown; client now on %s",
		time.Since(down).Round(time.Millisecond), b.nc.ConnectedServerName())
	if b.nc.ConnectedServerName() == nodes[victim].Name() {
		t.Error("client still on the node that was shut down")
	}

	st := streamState(t, b, StreamScans)
	if st.Msgs != frames || st.LastSeq != frames {
		t.Errorf("SCANS: %d messages up to sequence %d, want %d", st.Msgs, st.LastSeq, frames)
	}
}
