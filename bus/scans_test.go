package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestFrameDedup(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	frame := bytes.Repeat([]byte{1, 2, 3, 4}, 1000)
	hdr := nats.Header{"Ctrecon-Dtype": []string{"uint16"}}

	for i, want := range []bool{false, true} {
		dup, err := b.PublishFrame(ctx, "scan-1", 2, 17, frame, hdr)
		if err != nil {
			t.Fatal(err)
		}
		if dup != want {
			t.Errorf("publish %d: duplicate = %v, want %v", i+1, dup, want)
		}
	}
	for i, want := range []bool{false, true} {
		dup, err := b.PublishManifest(ctx, "scan-1", []byte(`{"views":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if dup != want {
			t.Errorf("manifest %d: duplicate = %v, want %v", i+1, dup, want)
		}
	}
	// Another bin of the same view is another frame.
	if dup, err := b.PublishFrame(ctx, "scan-1", 3, 17, frame, nil); err != nil || dup {
		t.Fatalf("bin 3: duplicate %v, err %v", dup, err)
	}
	if st := streamState(t, b, StreamScans); st.Msgs != 3 || st.LastSeq != 3 {
		t.Errorf("SCANS holds %d messages up to sequence %d, want 3 and 3", st.Msgs, st.LastSeq)
	}
	if hdr.Get(HeaderBin) != "" {
		t.Error("PublishFrame changed the caller's header")
	}

	// ConsumeScan gives them back in order with their coordinates.
	var got []Frame
	err := b.ConsumeScan(ctx, "scan-1", func(f Frame) error {
		got = append(got, f)
		if f.Pending == 0 {
			return ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("ConsumeScan gave %d messages, want 3", len(got))
	}
	if f := got[0]; f.Kind != KindFrame || f.Bin != 2 || f.View != 17 || !bytes.Equal(f.Data, frame) ||
		f.Header.Get("Ctrecon-Dtype") != "uint16" || f.Header.Get(HeaderView) != "17" {
		t.Errorf("first message: kind %v bin %d view %d header %v", f.Kind, f.Bin, f.View, f.Header)
	}
	if got[1].Kind != KindManifest || got[2].Bin != 3 {
		t.Errorf("second is kind %v, third bin %d", got[1].Kind, got[2].Bin)
	}
}

func TestConsumeScanFollowsNewFrames(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	const views = 5
	errc := make(chan error, 1)
	seen := make(chan Frame, views)
	go func() {
		errc <- b.ConsumeScan(ctx, "live", func(f Frame) error {
			seen <- f
			if f.View == views-1 {
				return ErrStop
			}
			return nil
		})
	}()
	for v := range views {
		if _, err := b.PublishFrame(ctx, "live", 0, v, []byte{byte(v)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	close(seen)
	v := 0
	for f := range seen {
		if f.View != v || f.Data[0] != byte(v) {
			t.Errorf("frame %d: view %d data %v", v, f.View, f.Data)
		}
		v++
	}
	if v != views {
		t.Errorf("saw %d frames, want %d", v, views)
	}

	// A cancelled context ends it with the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.ConsumeScan(cctx, "live", func(Frame) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ConsumeScan: %v", err)
	}
	// A handler's error comes back as it is.
	boom := errors.New("boom")
	if err := b.ConsumeScan(ctx, "live", func(Frame) error { return boom }); err != boom {
		t.Errorf("ConsumeScan returned %v, want the handler's error", err)
	}
}

func TestPublishFrameRejects(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	for _, tc := range []struct {
		scan      string
		bin, view int
		size      int
		want      error
		text      string
	}{
		{"a.b", 0, 0, 1, ErrInvalidID, `scan ID "a.b"`},
		{"", 0, 0, 1, ErrInvalidID, `scan ID ""`},
		{"s*", 0, 0, 1, ErrInvalidID, `"s*"`},
		{"s", -1, 0, 1, ErrInvalidID, "bin -1"},
		{"s", 0, -3, 1, ErrInvalidID, "view -3"},
		{"s", 1, 2, 1<<20 + 1, ErrTooLarge, "scan s bin 1 view 2: 1048577 bytes"},
	} {
		_, err := b.PublishFrame(ctx, tc.scan, tc.bin, tc.view, make([]byte, tc.size), nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("PublishFrame(%q, %d, %d): %v, want %v", tc.scan, tc.bin, tc.view, err, tc.want)
			continue
		}
		wantErr(t, err, tc.text)
	}
	if st := streamState(t, b, StreamScans); st.Msgs != 0 {
		t.Errorf("SCANS holds %d messages after rejected publishes", st.Msgs)
	}
}

// TestRestartEmbedded restarts the server on its data directory while a
// publisher is streaming frames: the frames stored before survive, the
// client reconnects, and no frame is lost or stored twice.
func TestRestartEmbedded(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEmbedded(testContext(t, 10*time.Second), EmbeddedOptions{DataDir: dir, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(); e.WaitForShutdown() })
	b := connect(t, e.ClientURL())
	ctx := testContext(t, 30*time.Second)
	if err := b.Setup(ctx, Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SubmitJob(ctx, "before-restart", []byte("spec")); err != nil {
		t.Fatal(err)
	}

	// The publisher repeats each frame until it is acknowledged, as acquire does.
	const frames = 60
	acked := make(chan int, frames)
	done := make(chan error, 1)
	var retries, duplicates int
	go func() {
		defer close(acked)
		for v := range frames {
			for {
				pctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
				dup, err := b.PublishFrame(pctx, "restart", 0, v, []byte(fmt.Sprint(v)), nil)
				cancel()
				if dup {
					duplicates++
				}
				if err == nil {
					break
				}
				retries++
				if ctx.Err() != nil {
					done <- fmt.Errorf("frame %d never acknowledged: %w", v, err)
					return
				}
			}
			acked <- v
		}
		done <- nil
	}()
	for v := range acked {
		if v == frames/3 {
			break
		}
	}
	opts := e.Options()
	e.Shutdown()
	e.WaitForShutdown()
	restarted := time.Now()
	e, err = StartEmbedded(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range acked {
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("publisher finished %v after the restart; %d publishes repeated, %d acknowledged as duplicates",
		time.Since(restarted).Round(time.Millisecond), retries, duplicates)

	// Stored once each: no gaps in the sequence, none replaced.
	st := streamState(t, b, StreamScans)
	if st.Msgs != frames || st.FirstSeq != 1 || st.LastSeq != frames {
		t.Errorf("SCANS: %d messages, sequences %d to %d; want %d, 1 to %d", st.Msgs, st.FirstSeq, st.LastSeq, frames, frames)
	}
	v := 0
	err = b.ConsumeScan(ctx, "restart", func(f Frame) error {
		if f.View != v || string(f.Data) != fmt.Sprint(v) {
			return fmt.Errorf("message %d is view %d (%q)", v, f.View, f.Data)
		}
		v++
		if f.Pending == 0 {
			return ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The job queued before the restart is still there.
	j, err := b.PullJob(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "before-restart" || string(j.Spec) != "spec" {
		t.Errorf("job after restart: %q %q", j.ID, j.Spec)
	}
	if err := j.Ack(ctx); err != nil {
		t.Fatal(err)
	}
}

// ListScans names the scans with a manifest, once each, in order; a scan
// with frames but no manifest yet is not one.
func TestListScans(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	if ids, err := b.ListScans(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("empty bus: %v, %v", ids, err)
	}
	for _, id := range []string{"scan-b", "scan-a"} {
		if _, err := b.PublishManifest(ctx, id, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.PublishFrame(ctx, id, 0, 0, []byte{1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.PublishFrame(ctx, "scan-c", 0, 0, []byte{1}, nil); err != nil {
		t.Fatal(err)
	}
	ids, err := b.ListScans(ctx)
	if err != nil || fmt.Sprint(ids) != "[scan-a scan-b]" {
		t.Errorf("ListScans = %v, %v; want [scan-a scan-b]", ids, err)
	}
}
