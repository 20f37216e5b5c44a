package bus

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// Setup draws the pseudonymisation key once: a second Setup, with or
// without settings, keeps it; a client reads the same key; another
// deployment has another key. A deployment without the key (set up by an
// older ctrecon) fails Lookup naming the bucket.
func TestPseudonymKey(t *testing.T) {
	e, owner := newBus(t, Config{})
	ctx := testContext(t, 20*time.Second)
	first, err := owner.PseudonymKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != pseudonymKeyBytes || bytes.Equal(first, make([]byte, pseudonymKeyBytes)) {
		t.Fatalf("key %x: want %d random bytes", first, pseudonymKeyBytes)
	}
	if err := owner.Setup(ctx, Config{AckWait: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	client := connect(t, e.ClientURL())
	if err := client.Lookup(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := client.PseudonymKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Errorf("key changed after a second Setup: %x, then %x", first, again)
	}

	_, other := newBus(t, Config{})
	if k, err := other.PseudonymKey(ctx); err != nil || bytes.Equal(k, first) {
		t.Errorf("another deployment's key %x (err %v), want one of its own", k, err)
	}

	if err := owner.js.DeleteKeyValue(ctx, BucketDeployment); err != nil {
		t.Fatal(err)
	}
	fresh := connect(t, e.ClientURL())
	err = fresh.Lookup(ctx)
	if !errors.Is(err, ErrNotSetUp) {
		t.Fatalf("Lookup without %s: err = %v, want ErrNotSetUp", BucketDeployment, err)
	}
	wantErr(t, err, BucketDeployment)
}
