package bus

import "errors"

// Sentinel errors. Functions wrap them with %w and add what was wrong.
var (
	// ErrInvalidOption reports an Option or EmbeddedOptions field that cannot
	// work: a missing file, an empty user, a certificate without its key.
	ErrInvalidOption = errors.New("bus: invalid option")

	// ErrUnreachable reports that no NATS server answered at the URL
	// before Connect's context ended.
	ErrUnreachable = errors.New("bus: no NATS server answered")

	// ErrServerVersion reports a NATS server older than MinServerVersion.
	ErrServerVersion = errors.New("bus: NATS server too old")

	// ErrInvalidConfig reports a Config that Setup rejects.
	ErrInvalidConfig = errors.New("bus: invalid config")

	// ErrInvalidID reports a scan, job or folder ID, a DICOM UID, a bin or a
	// view that cannot be part of a subject or key.
	ErrInvalidID = errors.New("bus: invalid identifier")

	// ErrInvalidStatus reports a Status that PutStatus rejects.
	ErrInvalidStatus = errors.New("bus: invalid status")

	// ErrTooLarge reports a message larger than the server's max_payload.
	ErrTooLarge = errors.New("bus: message too large")

	// ErrConflict reports a job status that UpdateStatus did not write
	// because someone else wrote the job's status since.
	ErrConflict = errors.New("bus: status changed since it was read")

	// ErrNotFound reports a job status or folder that does not exist.
	ErrNotFound = errors.New("bus: not found")

	// ErrNotSetUp reports a stream, consumer or bucket that Setup creates
	// and that does not exist: nobody has set up the deployment yet.
	ErrNotSetUp = errors.New("bus: not set up")

	// ErrNoJob is returned by PullJob when its context ends before a job
	// arrives.
	ErrNoJob = errors.New("bus: no job")

	// ErrStop may be returned by a handler given to ConsumeScan or
	// ConsumeFeatures to end consumption without an error.
	ErrStop = errors.New("bus: stop")
)
