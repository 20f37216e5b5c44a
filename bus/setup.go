package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Streams, consumers and buckets. README.md has the same table.
const (
	// StreamScans holds acquisition data: one manifest and one message per
	// projection per energy bin for each scan, on the subjects
	// SubjectManifest and SubjectFrame. Limits retention, one message kept
	// per subject, so a frame published twice is stored once even outside
	// the duplicate window.
	StreamScans = "SCANS"

	// StreamJobs is the work queue of reconstruction jobs on SubjectJobs. A
	// job leaves the stream when a worker acknowledges or terminates it.
	StreamJobs = "JOBS"

	// ConsumerWorkers is the one durable pull consumer on StreamJobs that
	// every worker shares, so that each job goes to one worker at a time.
	ConsumerWorkers = "workers"

	// StreamFeatures holds feature vectors on SubjectFeatures; limits
	// retention with no limits, so every vector ever published is kept and
	// the search service can rebuild its indexes from the start.
	StreamFeatures = "FEATURES"

	// BucketStatus is the key-value bucket of job status, keyed by job ID,
	// holding JSON Status values.
	BucketStatus = "JOBS_STATUS"

	// BucketProjections is the object store of projection set folders
	// submitted as files (see PutFolder).
	BucketProjections = "PROJECTIONS"
)

// Subjects. Tokens in angle brackets are IDs checked by ValidID or DICOM UIDs
// with their dots replaced by underscores.
const (
	// SubjectManifest is the format of a scan's manifest subject:
	// scans.<scanID>.manifest.
	SubjectManifest = "scans.%s.manifest"

	// SubjectFrame is the format of a frame's subject:
	// scans.<scanID>.frames.<bin>.<view>, bin and view in decimal.
	SubjectFrame = "scans.%s.frames.%d.%d"

	// SubjectJobs is the subject jobs are submitted on.
	SubjectJobs = "jobs.submit"

	// SubjectFeatures is the format of a feature vector's subject:
	// features.<studyUID>.<seriesUID>, with dots in the UIDs written as
	// underscores.
	SubjectFeatures = "features.%s.%s"
)

// Message headers set by the helpers, besides Nats-Msg-Id.
const (
	HeaderScanID    = "Ctrecon-Scan-Id"
	HeaderBin       = "Ctrecon-Bin"
	HeaderView      = "Ctrecon-View"
	HeaderJobID     = "Ctrecon-Job-Id"
	HeaderStudyUID  = "Ctrecon-Study-Uid"
	HeaderSeriesUID = "Ctrecon-Series-Uid"
)

// Config sets the parameters of the streams, consumer and buckets that
// Setup creates or updates. A zero field keeps what the deployment has, so
// that a process not told a setting never changes it (a restarted `ctrecon
// serve` does not scale a three-node deployment down to one replica, nor
// reset the ack wait); where Setup creates a stream, consumer or bucket, a
// zero field means its default.
type Config struct {
	// Replicas is the number of copies of each stream and bucket: 1 on a
	// single server (the default), 3 on a three-node cluster.
	Replicas int

	// MaxDeliver is how many times a job is delivered before the server
	// stops redelivering it (default 5). A worker that fails on the last
	// delivery terminates the job with a reason (Job.Term).
	MaxDeliver int

	// AckWait is how long a worker may hold a job without acknowledging it
	// or sending InProgress before it is redelivered (default 30 s). Given
	// without BackOff, it replaces a deployed BackOff.
	AckWait time.Duration

	// BackOff, if set, gives the ack wait of each delivery in turn, the last
	// repeating; it overrides AckWait and has at most MaxDeliver entries. It
	// does not apply to NakWithDelay, whose delay the worker chooses.
	BackOff []time.Duration

	// DuplicateWindow is how long SCANS, JOBS and FEATURES remember message
	// IDs (default 10 min): a frame or job published again within it is
	// acknowledged as a duplicate and not stored.
	DuplicateWindow time.Duration

	// ScansMaxAge removes scan data older than this; none (the default)
	// keeps it until removed by hand.
	ScansMaxAge time.Duration

	// StatusHistory is the number of values kept per job in JOBS_STATUS
	// (default 5, at most 64).
	StatusHistory int
}

// Defaults of Config.
const (
	DefaultReplicas        = 1
	DefaultMaxDeliver      = 5
	DefaultAckWait         = 30 * time.Second
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultStatusHistory   = 5
)

// validate checks the fields that are set, and returns an error wrapping
// ErrInvalidConfig. Settings that depend on each other are checked once
// the deployed values are known (see scans and workers).
func (c Config) validate() error {
	switch {
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("%w: Replicas %d: want 1 to 5", ErrInvalidConfig, c.Replicas)
	case c.MaxDeliver < 0:
		return fmt.Errorf("%w: MaxDeliver %d: want at least 1", ErrInvalidConfig, c.MaxDeliver)
	case c.AckWait != 0 && c.AckWait < time.Second:
		return fmt.Errorf("%w: AckWait %v: want at least 1s", ErrInvalidConfig, c.AckWait)
	case c.DuplicateWindow < 0:
		return fmt.Errorf("%w: DuplicateWindow %v is negative", ErrInvalidConfig, c.DuplicateWindow)
	case c.ScansMaxAge < 0:
		return fmt.Errorf("%w: ScansMaxAge %v is negative", ErrInvalidConfig, c.ScansMaxAge)
	case c.StatusHistory < 0 || c.StatusHistory > 64:
		return fmt.Errorf("%w: StatusHistory %d: want 1 to 64", ErrInvalidConfig, c.StatusHistory)
	}
	for i, d := range c.BackOff {
		if d <= 0 {
			return fmt.Errorf("%w: BackOff[%d] is %v", ErrInvalidConfig, i, d)
		}
	}
	return nil
}

// stream returns the template tmpl with the replicas and duplicate window
// of c, or else of the deployed stream old (zero if there is none), or
// else the defaults.
func (c Config) stream(tmpl, old jetstream.StreamConfig) jetstream.StreamConfig {
	tmpl.Replicas = cmp.Or(c.Replicas, old.Replicas, DefaultReplicas)
	tmpl.Duplicates = cmp.Or(c.DuplicateWindow, old.Duplicates, DefaultDuplicateWindow)
	return tmpl
}

// scans returns the configuration of SCANS, given the deployed one (zero
// if there is none).
func (c Config) scans(old jetstream.StreamConfig) (jetstream.StreamConfig, error) {
	sc := c.stream(jetstream.StreamConfig{
		Name:              StreamScans,
		Description:       "ctrecon scan manifests and projection frames",
		Subjects:          []string{"scans.*.manifest", "scans.*.frames.*.*"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		MaxAge:            cmp.Or(c.ScansMaxAge, old.MaxAge),
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
	}, old)
	if sc.MaxAge > 0 && sc.MaxAge < sc.Duplicates {
		return sc, fmt.Errorf("%w: ScansMaxAge %v is shorter than DuplicateWindow %v",
			ErrInvalidConfig, sc.MaxAge, sc.Duplicates)
	}
	return sc, nil
}

// jobs returns the configuration of JOBS, given the deployed one.
func (c Config) jobs(old jetstream.StreamConfig) jetstream.StreamConfig {
	return c.stream(jetstream.StreamConfig{
		Name:        StreamJobs,
		Description: "ctrecon reconstruction jobs (work queue)",
		Subjects:    []string{SubjectJobs},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
	}, old)
}

// features returns the configuration of FEATURES, given the deployed one.
func (c Config) features(old jetstream.StreamConfig) jetstream.StreamConfig {
	return c.stream(jetstream.StreamConfig{
		Name:        StreamFeatures,
		Description: "ctrecon feature vectors, kept forever",
		Subjects:    []string{"features.*.*"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
	}, old)
}

// workers returns the configuration of the workers consumer, given the
// deployed one (zero if there is none) and the replicas of JOBS.
func (c Config) workers(old jetstream.ConsumerConfig, jobsReplicas int) (jetstream.ConsumerConfig, error) {
	cc := jetstream.ConsumerConfig{
		Durable:       ConsumerWorkers,
		Description:   "shared by every ctrecon worker",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cmp.Or(c.AckWait, old.AckWait, DefaultAckWait),
		MaxDeliver:    cmp.Or(c.MaxDeliver, old.MaxDeliver, DefaultMaxDeliver),
		BackOff:       old.BackOff,
		FilterSubject: SubjectJobs,
		Replicas:      cmp.Or(c.Replicas, old.Replicas, jobsReplicas),
	}
	switch {
	case c.BackOff != nil:
		cc.BackOff = c.BackOff
	case c.AckWait != 0:
		cc.BackOff = nil
	}
	if len(cc.BackOff) > 0 {
		cc.AckWait = cc.BackOff[0] // as the server does, so that Setup stays idempotent
	}
	if cc.MaxDeliver > 0 && len(cc.BackOff) > cc.MaxDeliver {
		return cc, fmt.Errorf("%w: %d BackOff durations with MaxDeliver %d: want no more durations than deliveries",
			ErrInvalidConfig, len(cc.BackOff), cc.MaxDeliver)
	}
	return cc, nil
}

// Setup creates the streams, the workers consumer and the buckets, or
// updates them where they exist. A zero field of cfg keeps the deployed
// value (see Config), so Setup(ctx, Config{}) changes nothing on an
// existing deployment, and running Setup again with the same cfg changes
// nothing either. Only the process that owns the deployment runs it
// (`ctrecon serve`, or `ctrecon setup` where NATS runs on its own); clients
// call Lookup.
//
// Errors wrap ErrInvalidConfig (also when Replicas > 1 and the server is not
// in a cluster), or the jetstream error of the first stream, consumer or
// bucket that could not be read, created or updated (for example when
// Replicas exceeds the number of servers, or an existing stream's
// retention differs).
//
// A cluster that is still electing its JetStream leaders, as one that has
// just started is, answers with timeouts for a few seconds: Setup tries
// again for up to setupPatience while ctx allows, since every step is
// idempotent.
func (b *Bus) Setup(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	deadline := time.Now().Add(setupPatience)
	for {
		err := b.setup(ctx, cfg)
		if err == nil || !transient(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// setupPatience is how long Setup keeps trying a cluster that times out.
const setupPatience = 30 * time.Second

// transient reports whether a JetStream request failed for want of an
// answer in time rather than because of what it asked.
func transient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// setup is one pass of Setup.
func (b *Bus) setup(ctx context.Context, cfg Config) error {
	// A standalone server quietly keeps one copy of a stream asked for more.
	if cfg.Replicas > 1 && b.nc.ConnectedClusterName() == "" {
		return fmt.Errorf("%w: Replicas %d, but server %s is not in a cluster",
			ErrInvalidConfig, cfg.Replicas, b.nc.ConnectedServerName())
	}
	old, err := b.deployedStream(ctx, StreamScans)
	if err != nil {
		return err
	}
	scans, err := cfg.scans(old)
	if err != nil {
		return err
	}
	if err := b.updateStream(ctx, scans); err != nil {
		return err
	}
	if old, err = b.deployedStream(ctx, StreamJobs); err != nil {
		return err
	}
	jobs := cfg.jobs(old)
	if err := b.updateStream(ctx, jobs); err != nil {
		return err
	}
	if old, err = b.deployedStream(ctx, StreamFeatures); err != nil {
		return err
	}
	if err := b.updateStream(ctx, cfg.features(old)); err != nil {
		return err
	}
	cons, err := b.setupWorkers(ctx, cfg, jobs.Replicas)
	if err != nil {
		return err
	}
	kv, err := b.setupStatus(ctx, cfg)
	if err != nil {
		return err
	}
	obs, err := b.setupProjections(ctx, cfg)
	if err != nil {
		return err
	}
	dep, err := b.setupDeployment(ctx, cfg)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.workers, b.status, b.projections, b.deployment = cons, kv, obs, dep
	b.mu.Unlock()
	return nil
}

// deployedStream returns the configuration of the stream name, or the zero
// configuration if there is none.
func (b *Bus) deployedStream(ctx context.Context, name string) (jetstream.StreamConfig, error) {
	s, err := b.js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return jetstream.StreamConfig{}, nil
	case err != nil:
		return jetstream.StreamConfig{}, fmt.Errorf("bus: setup stream %s: %w", name, err)
	}
	return s.CachedInfo().Config, nil
}

func (b *Bus) updateStream(ctx context.Context, sc jetstream.StreamConfig) error {
	if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("bus: setup stream %s: %w", sc.Name, err)
	}
	return nil
}

// setupWorkers creates or updates the workers consumer on JOBS.
func (b *Bus) setupWorkers(ctx context.Context, cfg Config, jobsReplicas int) (jetstream.Consumer, error) {
	var old jetstream.ConsumerConfig
	switch c, err := b.js.Consumer(ctx, StreamJobs, ConsumerWorkers); {
	case err == nil:
		old = c.CachedInfo().Config
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("bus: setup consumer %s on %s: %w", ConsumerWorkers, StreamJobs, err)
	}
	cc, err := cfg.workers(old, jobsReplicas)
	if err != nil {
		return nil, err
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, StreamJobs, cc)
	if err != nil {
		return nil, fmt.Errorf("bus: setup consumer %s on %s: %w", ConsumerWorkers, StreamJobs, err)
	}
	return cons, nil
}

// setupStatus creates or updates the JOBS_STATUS bucket, keeping the
// deployed history and replicas of its stream where cfg sets none.
func (b *Bus) setupStatus(ctx context.Context, cfg Config) (jetstream.KeyValue, error) {
	old, err := b.deployedStream(ctx, "KV_"+BucketStatus)
	if err != nil {
		return nil, err
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketStatus,
		Description: "ctrecon job status by job ID",
		History:     uint8(cmp.Or(int64(cfg.StatusHistory), old.MaxMsgsPerSubject, DefaultStatusHistory)),
		Storage:     jetstream.FileStorage,
		Replicas:    cmp.Or(cfg.Replicas, old.Replicas, DefaultReplicas),
	})
	if err != nil {
		return nil, fmt.Errorf("bus: setup key-value bucket %s: %w", BucketStatus, err)
	}
	return kv, nil
}

// setupProjections creates or updates the PROJECTIONS object store,
// keeping the deployed replicas of its stream where cfg sets none.
func (b *Bus) setupProjections(ctx context.Context, cfg Config) (jetstream.ObjectStore, error) {
	old, err := b.deployedStream(ctx, "OBJ_"+BucketProjections)
	if err != nil {
		return nil, err
	}
	obs, err := b.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BucketProjections,
		Description: "ctrecon projection set folders",
		Storage:     jetstream.FileStorage,
		Replicas:    cmp.Or(cfg.Replicas, old.Replicas, DefaultReplicas),
	})
	if err != nil {
		return nil, fmt.Errorf("bus: setup object store %s: %w", BucketProjections, err)
	}
	return obs, nil
}

// Lookup finds the streams, the workers consumer and the buckets that
// Setup creates, without creating or changing any: every process but the
// one that owns the deployment calls it after Connect, so that a missing
// resource is reported at once, by name, rather than part-way through a
// scan. Errors wrap ErrNotSetUp naming the first one missing, or the
// jetstream error.
func (b *Bus) Lookup(ctx context.Context) error {
	for _, name := range []string{StreamScans, StreamJobs, StreamFeatures} {
		if _, err := b.js.Stream(ctx, name); err != nil {
			return lookupFailed("stream "+name, err)
		}
	}
	if _, err := b.workersConsumer(ctx); err != nil {
		return err
	}
	if _, err := b.statusBucket(ctx); err != nil {
		return err
	}
	if _, err := b.projectionStore(ctx); err != nil {
		return err
	}
	_, err := b.PseudonymKey(ctx)
	return err
}

// lookupFailed wraps the error of looking up what, adding ErrNotSetUp when
// it does not exist.
func lookupFailed(what string, err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("%w: %s: %w", ErrNotSetUp, what, err)
	}
	return fmt.Errorf("bus: %s: %w", what, err)
}

// workersConsumer returns the workers consumer, looking it up once when
// Setup did not run in this process.
func (b *Bus) workersConsumer(ctx context.Context) (jetstream.Consumer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.workers == nil {
		c, err := b.js.Consumer(ctx, StreamJobs, ConsumerWorkers)
		if err != nil {
			return nil, lookupFailed("consumer "+ConsumerWorkers+" on "+StreamJobs, err)
		}
		b.workers = c
	}
	return b.workers, nil
}

// statusBucket returns the JOBS_STATUS bucket, looking it up once.
func (b *Bus) statusBucket(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status == nil {
		kv, err := b.js.KeyValue(ctx, BucketStatus)
		if err != nil {
			return nil, lookupFailed("key-value bucket "+BucketStatus, err)
		}
		b.status = kv
	}
	return b.status, nil
}

// projectionStore returns the PROJECTIONS object store, looking it up once.
func (b *Bus) projectionStore(ctx context.Context) (jetstream.ObjectStore, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.projections == nil {
		obs, err := b.js.ObjectStore(ctx, BucketProjections)
		if err != nil {
			return nil, lookupFailed("object store "+BucketProjections, err)
		}
		b.projections = obs
	}
	return b.projections, nil
}
