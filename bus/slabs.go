package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A job split into slabs (z ranges of its volume) puts one task per slab on
// the JOBS work queue, beside the jobs, so that any worker takes any slab.
// A slab task's key, SlabKey, is its message's Ctrecon-Job-Id (a worker's
// Job.ID) and message ID, and the key of its status in JOBS_STATUS, so a
// slab is claimed, fenced, retried and settled exactly as a job is. The
// key holds a '.', which a job ID cannot, so it never names a job;
// ListStatus and WatchStatus of every job leave slabs out.

// slabKeyPattern matches SlabKey's keys: a job ID, ".slab.", an index.
var slabKeyPattern = regexp.MustCompile(`^([A-Za-z0-9_-]{1,128})\.slab\.(0|[1-9][0-9]{0,5})$`)

// SlabKey is the key of slab index (from 0) of job id: "<id>.slab.<index>".
func SlabKey(id string, index int) string { return id + ".slab." + strconv.Itoa(index) }

// ParseSlabKey returns the job and the slab index of a SlabKey, and false
// for anything else (a job ID).
func ParseSlabKey(key string) (id string, index int, ok bool) {
	m := slabKeyPattern.FindStringSubmatch(key)
	if m == nil {
		return "", 0, false
	}
	index, _ = strconv.Atoi(m[2]) // six digits at most
	return m[1], index, true
}

// isSlab reports whether key is a SlabKey.
func isSlab(key string) bool { return slabKeyPattern.MatchString(key) }

// validKey checks a status key: a job ID or a SlabKey. Errors wrap
// ErrInvalidID.
func validKey(key string) error {
	if isSlab(key) {
		return nil
	}
	return ValidID("job", key)
}

// SubmitSlab queues the task of slab index of job id (spec, JSON) on the
// JOBS work queue under SlabKey, which is also its message ID: a task
// submitted again within the duplicate window, by a job's coordinator
// that was redelivered, is stored once. Errors wrap ErrInvalidID,
// ErrTooLarge or the jetstream error.
func (b *Bus) SubmitSlab(ctx context.Context, id string, index int, spec []byte) (duplicate bool, err error) {
	if err := ValidID("job", id); err != nil {
		return false, err
	}
	key := SlabKey(id, index)
	msg := &nats.Msg{Subject: SubjectJobs, Header: nats.Header{HeaderJobID: []string{key}}, Data: spec}
	return b.publish(ctx, msg, key, "slab task "+key)
}

// slabsObjects is the start of the names of slab volumes in the
// PROJECTIONS object store; a folder ID cannot start with '.'.
const slabsObjects = ".slabs/"

// SlabObject names a slab's volumes in the object store, per attempt, so
// that an attempt that lost its slab never overwrites the one its status
// names: ".slabs/<job>/<index>/<attempt>".
func SlabObject(id string, index int, attempt string) string {
	return fmt.Sprintf("%s%s/%d/%s", slabsObjects, id, index, attempt)
}

// PutSlab stores what r reads (a slab's volumes) as object name
// (SlabObject), chunked by the object store as it comes, so that a slab of
// any size passes NATS's max_payload and need not be held whole. A read
// error stores nothing and is returned.
func (b *Bus) PutSlab(ctx context.Context, name string, r io.Reader) error {
	obs, err := b.projectionStore(ctx)
	if err != nil {
		return err
	}
	if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name}, r); err != nil {
		return fmt.Errorf("bus: put slab %s: %w", name, err)
	}
	return nil
}

// OpenSlab opens object name stored by PutSlab and returns it with its
// size in bytes; a read to its end checks its digest. Errors wrap
// ErrNotFound when there is none.
func (b *Bus) OpenSlab(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	obs, err := b.projectionStore(ctx)
	if err != nil {
		return nil, 0, err
	}
	res, err := obs.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, 0, fmt.Errorf("bus: slab %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("bus: get slab %s: %w", name, err)
	}
	info, err := res.Info()
	if err != nil {
		res.Close()
		return nil, 0, fmt.Errorf("bus: get slab %s: %w", name, err)
	}
	return res, int64(info.Size), nil
}

// DeleteSlabs removes every slab volume of job id, of every attempt, once
// its output is committed.
func (b *Bus) DeleteSlabs(ctx context.Context, id string) error {
	obs, err := b.projectionStore(ctx)
	if err != nil {
		return err
	}
	list, err := obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bus: slabs of job %s: %w", id, err)
	}
	prefix := slabsObjects + id + "/"
	var errs []error
	for _, o := range list {
		if strings.HasPrefix(o.Name, prefix) {
			errs = append(errs, obs.Delete(ctx, o.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bus: delete slabs of job %s: %w", id, err)
	}
	return nil
}
