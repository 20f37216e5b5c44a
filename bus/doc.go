// Package bus is ctrecon's message bus: NATS JetStream streams, a work queue,
// a key-value bucket and an object store, on an embedded nats-server or on a
// real NATS deployment.
//
// # Servers
//
// [StartEmbedded] runs a nats-server in this process with JetStream storing
// files under a data directory; `ctrecon serve` uses it unless it is given a
// NATS URL. [StartLocalCluster] forms a cluster of embedded servers on the
// loopback interface, for tests and demonstrations of replicated streams.
//
// # Clients
//
// [Connect] dials a server (embedded or real, 2.10 or newer) with [Option]s
// for user and password, a credentials file and TLS, and reconnects forever
// with backoff.
// [Bus.Setup] creates or updates, idempotently, everything listed in
// README.md: the streams SCANS, JOBS and FEATURES, the durable pull consumer
// "workers", the key-value buckets JOBS_STATUS and DEPLOYMENT (the
// pseudonymisation key, drawn once: [Bus.PseudonymKey]) and the object store
// PROJECTIONS; settings it is not given keep their deployed values. Only
// the owner of the deployment runs it; every other process calls
// [Bus.Lookup], which changes nothing. Names and subjects are the exported
// constants of this package.
//
// The roles use typed helpers rather than subjects:
//
//   - acquire: [Bus.PublishManifest], [Bus.PublishFrame]. Every publish waits
//     for the server's acknowledgement and carries a message ID derived from
//     the scan, bin and view, so publishing a frame again after a dropped
//     connection stores it once. A role resumes by re-publishing every frame
//     it has no acknowledgement for.
//   - worker: [Bus.PullJob] returns a [Job] from the shared durable consumer;
//     it reports progress with [Job.InProgress] (or [Job.KeepAlive]), retries
//     with [Job.NakWithDelay], and when [Job.LastAttempt] fails it calls
//     [Job.Term] with a reason and writes a failed [Status].
//     [Bus.ConsumeScan] reads a scan's manifest and frames as they arrive.
//     It holds a job through its status: [Bus.UpdateStatus] writes only on
//     top of the revision it was given, so a worker that lost the job
//     cannot overwrite a newer status. [Bus.PublishJobFeatures] names each
//     record by job and record, so another attempt's copy is dropped.
//   - submit: [Bus.SubmitJob] with the job ID as the message ID;
//     [Bus.PutFolder] uploads a projection set folder, [Bus.GetFolder]
//     downloads it.
//   - status, jobs, cancel: [Bus.GetStatus], [Bus.ListStatus],
//     [Bus.WatchStatus], [Bus.UpdateStatus]; [Bus.ListScans] names the scans
//     on the bus.
//   - search: [Bus.ConsumeFeatures] from the start of the stream on restart.
//
// Every method that talks to the server takes a context first. Errors wrap
// the sentinel errors of this package (ErrInvalidOption, ErrUnreachable,
// ErrServerVersion, ErrInvalidConfig, ErrInvalidID, ErrInvalidStatus,
// ErrTooLarge, ErrConflict, ErrNotFound, ErrNotSetUp, ErrNoJob) or those of
// github.com/nats-io/nats.go/jetstream with %w.
package bus
