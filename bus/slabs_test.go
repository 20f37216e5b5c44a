package bus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// A slab key names its job and index and never a job; a job ID is not a
// slab key.
func TestSlabKey(t *testing.T) {
	key := SlabKey("job-7", 12)
	if id, i, ok := ParseSlabKey(key); !ok || id != "job-7" || i != 12 {
		t.Errorf("ParseSlabKey(%q) = %q, %d, %v", key, id, i, ok)
	}
	if ValidID("job", key) == nil {
		t.Errorf("slab key %q is a valid job ID", key)
	}
	for _, k := range []string{"job-7", "job-7.slab.", "job-7.slab.01", "job-7.slab.-1", "a.b.slab.1", ".slab.1"} {
		if _, _, ok := ParseSlabKey(k); ok {
			t.Errorf("ParseSlabKey(%q) accepted it", k)
		}
	}
}

// A slab's status is read and written under its key but not listed, nor
// watched, among the jobs; its volumes, larger than a message, go through
// the object store and are deleted with the job's other slabs only.
func TestSlabStatusAndVolumes(t *testing.T) {
	_, b := newBus(t, Config{})
	ctx := testContext(t, 30*time.Second)
	for _, id := range []string{SlabKey("job-7", 0), "job-7"} { // the slab first, as a watch would send it
		if _, err := b.UpdateStatus(ctx, Status{ID: id, State: StateRunning}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := b.GetStatus(ctx, SlabKey("job-7", 0)); err != nil || st.State != StateRunning {
		t.Errorf("slab status %+v, %v", st, err)
	}
	list, err := b.ListStatus(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "job-7" {
		t.Errorf("ListStatus = %+v, %v: want the job alone", list, err)
	}
	updates, err := b.WatchStatus(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := <-updates; st.ID != "job-7" {
		t.Errorf("WatchStatus of every job sent %q first", st.ID)
	}
	big := bytes.Repeat([]byte("slab"), 1<<19) // 2 MiB, over max_payload
	names := []string{SlabObject("job-7", 0, "a"), SlabObject("job-7", 1, "b"), SlabObject("job-70", 0, "a")}
	for _, name := range names {
		if err := b.PutSlab(ctx, name, bytes.NewReader(big)); err != nil {
			t.Fatal(err)
		}
	}
	if got, size, err := getSlab(ctx, b, names[0]); err != nil || !bytes.Equal(got, big) || size != int64(len(big)) {
		t.Fatalf("OpenSlab: %d bytes of %d, %v; want the %d put", len(got), size, err, len(big))
	}
	if err := b.DeleteSlabs(ctx, "job-7"); err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		_, _, err := getSlab(ctx, b, name)
		if gone := errors.Is(err, ErrNotFound); gone != (i < 2) {
			t.Errorf("%s after deleting job-7's slabs: %v", name, err)
		}
	}
}

// getSlab reads a whole slab object.
func getSlab(ctx context.Context, b *Bus, name string) ([]byte, int64, error) {
	r, size, err := b.OpenSlab(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return data, size, err
}
