package bus

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketDeployment is the key-value bucket of the deployment's own secrets
// and settings, written by Setup only. It holds KeyPseudonym.
const BucketDeployment = "DEPLOYMENT"

// KeyPseudonym is the key, in BucketDeployment, of the deployment's
// pseudonymisation key: 32 random bytes that Setup draws once, when it
// creates the deployment, and never changes, so that one patient ID gives
// the same pseudonym in every feature record of the deployment and a
// different one in every other deployment (features/records.Pseudonymise).
const KeyPseudonym = "pseudonym-key"

// pseudonymKeyBytes is the length of the pseudonymisation key: the block
// size of HMAC-SHA256's hash would allow 64, and 32 is SHA-256's output, the
// strength RFC 2104 recommends.
const pseudonymKeyBytes = 32

// setupDeployment creates or updates the DEPLOYMENT bucket, keeping the
// deployed replicas of its stream where cfg sets none, and draws the
// pseudonymisation key when there is none. Create fails on an existing key,
// so a key once drawn is never replaced, also when two owners set up at once.
func (b *Bus) setupDeployment(ctx context.Context, cfg Config) (jetstream.KeyValue, error) {
	old, err := b.deployedStream(ctx, "KV_"+BucketDeployment)
	if err != nil {
		return nil, err
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketDeployment,
		Description: "ctrecon deployment settings and secrets, written by setup only",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cmp.Or(cfg.Replicas, old.Replicas, DefaultReplicas),
	})
	if err != nil {
		return nil, fmt.Errorf("bus: setup key-value bucket %s: %w", BucketDeployment, err)
	}
	key := make([]byte, pseudonymKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("bus: setup %s/%s: %w", BucketDeployment, KeyPseudonym, err)
	}
	if _, err := kv.Create(ctx, KeyPseudonym, key); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("bus: setup %s/%s: %w", BucketDeployment, KeyPseudonym, err)
	}
	return kv, nil
}

// deploymentBucket returns the DEPLOYMENT bucket, looking it up once.
func (b *Bus) deploymentBucket(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deployment == nil {
		kv, err := b.js.KeyValue(ctx, BucketDeployment)
		if err != nil {
			return nil, lookupFailed("key-value bucket "+BucketDeployment, err)
		}
		b.deployment = kv
	}
	return b.deployment, nil
}

// PseudonymKey returns the deployment's pseudonymisation key (KeyPseudonym):
// what a worker keys the HMAC of patient IDs with before a feature record
// leaves it. Only Setup writes the key; clients read it.
//
// Errors wrap ErrNotSetUp when the bucket or the key is missing (a
// deployment set up by an older ctrecon: run setup again), or the jetstream
// error.
func (b *Bus) PseudonymKey(ctx context.Context) ([]byte, error) {
	kv, err := b.deploymentBucket(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, KeyPseudonym)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, fmt.Errorf("%w: key %s in bucket %s", ErrNotSetUp, KeyPseudonym, BucketDeployment)
	case err != nil:
		return nil, fmt.Errorf("bus: %s/%s: %w", BucketDeployment, KeyPseudonym, err)
	case len(e.Value()) < pseudonymKeyBytes:
		return nil, fmt.Errorf("bus: %s/%s holds %d bytes, want %d", BucketDeployment, KeyPseudonym, len(e.Value()), pseudonymKeyBytes)
	}
	return e.Value(), nil
}
