package bus

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestMain fails the run when goroutines outlive the tests: every server is
// shut down and every connection closed by then.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if err := waitForGoroutines(before, 10*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func waitForGoroutines(want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("leaked goroutines: %d, want at most %d\n%s", runtime.NumGoroutine(), want, buf)
		}
		<-tick.C
	}
	return nil
}

// checkFor polls f until it returns nil or total has passed, then fails
// with f's last error.
func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		<-tick.C
	}
}

// testContext is cancelled when the test ends or after d.
func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// startServer runs an embedded server on a free port and a fresh data
// directory until the test ends.
func startServer(t testing.TB, o EmbeddedOptions) *Embedded {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.Port == 0 {
		o.Port = -1
	}
	e, err := StartEmbedded(testContext(t, 10*time.Second), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Shutdown()
		e.WaitForShutdown()
	})
	return e
}

// startCluster forms an n-node cluster on loopback, shut down when the test
// ends, and returns its nodes and their client URLs, comma-separated.
func startCluster(t testing.TB, n int) ([]*Embedded, string) {
	t.Helper()
	nodes, err := StartLocalCluster(testContext(t, 30*time.Second), n, EmbeddedOptions{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, e := range nodes {
			e.Shutdown()
			e.WaitForShutdown()
		}
	})
	urls := make([]string, n)
	for i, e := range nodes {
		urls[i] = e.ClientURL()
	}
	return nodes, strings.Join(urls, ",")
}

// connect connects to url until the test ends; reconnections are quick.
func connect(t testing.TB, url string, opts ...Option) *Bus {
	t.Helper()
	opts = append([]Option{WithReconnectBackoff(20*time.Millisecond, 250*time.Millisecond)}, opts...)
	b, err := Connect(testContext(t, 10*time.Second), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// newBus starts a server, connects to it and runs Setup with cfg.
func newBus(t testing.TB, cfg Config) (*Embedded, *Bus) {
	t.Helper()
	e := startServer(t, EmbeddedOptions{})
	b := connect(t, e.ClientURL())
	if err := b.Setup(testContext(t, 10*time.Second), cfg); err != nil {
		t.Fatal(err)
	}
	return e, b
}

// streamState returns the state of a stream.
func streamState(t testing.TB, b *Bus, name string) jetstream.StreamState {
	t.Helper()
	ctx := testContext(t, 5*time.Second)
	s, err := b.js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// wantErr fails unless err is non-nil and its message holds every part.
func wantErr(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// testContextRetry bounds one attempt of an operation that is retried.
func testContextRetry(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Second)
}
