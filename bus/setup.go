package bus

import (
	"context"
	"fmt"
	"time"

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
// Setup creates. The zero value of a field means its default.
type Config struct {
	// Replicas is the number of copies of each stream and bucket: 1 on a
	// single server (the default), 3 on a three-node cluster.
	Replicas int

	// MaxDeliver is how many times a job is delivered before the server
	// stops redelivering it (default 5). A worker that fails on the last
	// delivery terminates the job with a reason (Job.Term).
	MaxDeliver int

	// AckWait is how long a worker may hold a job without acknowledging it
	// or sending InProgress before it is redelivered (default 30 s).
	AckWait time.Duration

	// BackOff, if set, gives the ack wait of each delivery in turn, the last
	// repeating; it overrides AckWait and has at most MaxDeliver entries. It
	// does not apply to NakWithDelay, whose delay the worker chooses.
	BackOff []time.Duration

	// DuplicateWindow is how long SCANS, JOBS and FEATURES remember message
	// IDs (default 10 min): a frame or job published again within it is
	// acknowledged as a duplicate and not stored.
	DuplicateWindow time.Duration

	// ScansMaxAge removes scan data older than this; 0 (the default) keeps
	// it until removed by hand.
	ScansMaxAge time.Duration

	// StatusHistory is the number of values kept per job in JOBS_STATUS
	// (default 5, at most 64).
	StatusHistory int
}

// Defaults of Config.
const (
	DefaultMaxDeliver      = 5
	DefaultAckWait         = 30 * time.Second
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultStatusHistory   = 5
)

// withDefaults returns c with defaults filled in, or an error wrapping
// ErrInvalidConfig.
func (c Config) withDefaults() (Config, error) {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.StatusHistory == 0 {
		c.StatusHistory = DefaultStatusHistory
	}
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return c, fmt.Errorf("%w: Replicas %d: want 1 to 5", ErrInvalidConfig, c.Replicas)
	case c.MaxDeliver < 1:
		return c, fmt.Errorf("%w: MaxDeliver %d: want at least 1", ErrInvalidConfig, c.MaxDeliver)
	case c.AckWait < time.Second:
		return c, fmt.Errorf("%w: AckWait %v: want at least 1s", ErrInvalidConfig, c.AckWait)
	case len(c.BackOff) > c.MaxDeliver:
		return c, fmt.Errorf("%w: %d BackOff durations with MaxDeliver %d: want no more durations than deliveries",
			ErrInvalidConfig, len(c.BackOff), c.MaxDeliver)
	case c.DuplicateWindow < 0:
		return c, fmt.Errorf("%w: DuplicateWindow %v is negative", ErrInvalidConfig, c.DuplicateWindow)
	case c.ScansMaxAge < 0:
		return c, fmt.Errorf("%w: ScansMaxAge %v is negative", ErrInvalidConfig, c.ScansMaxAge)
	case c.ScansMaxAge > 0 && c.ScansMaxAge < c.DuplicateWindow:
		return c, fmt.Errorf("%w: ScansMaxAge %v is shorter than DuplicateWindow %v",
			ErrInvalidConfig, c.ScansMaxAge, c.DuplicateWindow)
	case c.StatusHistory < 1 || c.StatusHistory > 64:
		return c, fmt.Errorf("%w: StatusHistory %d: want 1 to 64", ErrInvalidConfig, c.StatusHistory)
	}
	for i, d := range c.BackOff {
		if d <= 0 {
			return c, fmt.Errorf("%w: BackOff[%d] is %v", ErrInvalidConfig, i, d)
		}
	}
	if len(c.BackOff) > 0 {
		c.AckWait = c.BackOff[0] // as the server does, so that Setup stays idempotent
	}
	return c, nil
}

// Setup creates the streams, the workers consumer and the buckets, or
// updates them to cfg where they exist. It is idempotent: running it again
// with the same cfg changes nothing, so every process may run it at start.
// Setup is run by whoever owns the deployment (`ctrecon serve`); other
// processes should pass the same cfg or none at all.
//
// Errors wrap ErrInvalidConfig (also when Replicas > 1 and the server is not
// in a cluster), or the jetstream error of the first stream, consumer or
// bucket that could not be created (for example when Replicas exceeds the
// number of servers, or an existing stream's retention differs).
func (b *Bus) Setup(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	// A standalone server quietly keeps one copy of a stream asked for more.
	if cfg.Replicas > 1 && b.nc.ConnectedClusterName() == "" {
		return fmt.Errorf("%w: Replicas %d, but server %s is not in a cluster",
			ErrInvalidConfig, cfg.Replicas, b.nc.ConnectedServerName())
	}
	streams := []jetstream.StreamConfig{{
		Name:              StreamScans,
		Description:       "ctrecon scan manifests and projection frames",
		Subjects:          []string{"scans.*.manifest", "scans.*.frames.*.*"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		MaxAge:            cfg.ScansMaxAge,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.Replicas,
		Duplicates:        cfg.DuplicateWindow,
	}, {
		Name:        StreamJobs,
		Description: "ctrecon reconstruction jobs (work queue)",
		Subjects:    []string{SubjectJobs},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicateWindow,
	}, {
		Name:        StreamFeatures,
		Description: "ctrecon feature vectors, kept forever",
		Subjects:    []string{"features.*.*"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicateWindow,
	}}
	for _, sc := range streams {
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("bus: setup stream %s: %w", sc.Name, err)
		}
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, StreamJobs, jetstream.ConsumerConfig{
		Durable:       ConsumerWorkers,
		Description:   "shared by every ctrecon worker",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		BackOff:       cfg.BackOff,
		FilterSubject: SubjectJobs,
		Replicas:      cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("bus: setup consumer %s on %s: %w", ConsumerWorkers, StreamJobs, err)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketStatus,
		Description: "ctrecon job status by job ID",
		History:     uint8(cfg.StatusHistory),
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("bus: setup key-value bucket %s: %w", BucketStatus, err)
	}
	obs, err := b.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      BucketProjections,
		Description: "ctrecon projection set folders",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("bus: setup object store %s: %w", BucketProjections, err)
	}
	b.mu.Lock()
	b.workers, b.status, b.projections = cons, kv, obs
	b.mu.Unlock()
	return nil
}

// workersConsumer returns the workers consumer, looking it up once when
// Setup did not run in this process.
func (b *Bus) workersConsumer(ctx context.Context) (jetstream.Consumer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.workers == nil {
		c, err := b.js.Consumer(ctx, StreamJobs, ConsumerWorkers)
		if err != nil {
			return nil, fmt.Errorf("bus: consumer %s on %s (has Setup run?): %w", ConsumerWorkers, StreamJobs, err)
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
			return nil, fmt.Errorf("bus: key-value bucket %s (has Setup run?): %w", BucketStatus, err)
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
			return nil, fmt.Errorf("bus: object store %s (has Setup run?): %w", BucketProjections, err)
		}
		b.projections = obs
	}
	return b.projections, nil
}
