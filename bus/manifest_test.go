package bus

import (
	"errors"
	"testing"
	"time"
)

// Manifest is ErrNotFound before the scan's manifest is published, then
// returns it; frames and other scans' manifests do not stand in for it.
func TestManifest(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 10*time.Second)
	if _, err := b.Manifest(ctx, "scan-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before publishing: err = %v, want ErrNotFound", err)
	}
	if _, err := b.PublishFrame(ctx, "scan-1", 0, 0, []byte{1}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PublishManifest(ctx, "scan-2", []byte(`{"scan_id":"scan-2"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Manifest(ctx, "scan-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("with a frame only: err = %v, want ErrNotFound", err)
	}
	if _, err := b.PublishManifest(ctx, "scan-1", []byte(`{"scan_id":"scan-1"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := b.Manifest(ctx, "scan-1")
	if err != nil || string(got) != `{"scan_id":"scan-1"}` {
		t.Errorf("Manifest = %s, %v", got, err)
	}
	if _, err := b.Manifest(ctx, "a.b"); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad ID: err = %v", err)
	}
}
