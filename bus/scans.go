package bus

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxIDLen is the longest scan, job or folder ID.
const maxIDLen = 128

var idPattern = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9_-]{1,%d}$`, maxIDLen))

// ValidID checks a scan, job or folder ID: 1 to 128 letters, digits, '-'
// and '_', so that it can be one token of a subject and a key. Errors wrap
// ErrInvalidID.
func ValidID(kind, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %s ID %q: want 1 to 128 letters, digits, '-' or '_'", ErrInvalidID, kind, id)
	}
	return nil
}

// PublishManifest publishes a scan's manifest (its scan.json) and waits for
// the server's acknowledgement. The message ID is "<scanID>/manifest", so
// publishing it again within the duplicate window stores nothing and
// reports duplicate; outside the window the new manifest replaces the old.
//
// Errors wrap ErrInvalidID, ErrTooLarge, or the jetstream error (a context
// error when no acknowledgement came in time: publish again).
func (b *Bus) PublishManifest(ctx context.Context, scanID string, manifest []byte) (duplicate bool, err error) {
	if err := ValidID("scan", scanID); err != nil {
		return false, err
	}
	msg := &nats.Msg{
		Subject: fmt.Sprintf(SubjectManifest, scanID),
		Header:  nats.Header{HeaderScanID: []string{scanID}},
		Data:    manifest,
	}
	return b.publish(ctx, msg, scanID+"/manifest", "manifest of scan "+scanID)
}

// Manifest returns the last manifest published for a scan, so that a job
// can be checked against its scan before it is queued. Errors wrap
// ErrNotFound when the scan has no manifest on the bus (yet), ErrInvalidID,
// or jetstream errors.
func (b *Bus) Manifest(ctx context.Context, scanID string) ([]byte, error) {
	if err := ValidID("scan", scanID); err != nil {
		return nil, err
	}
	s, err := b.js.Stream(ctx, StreamScans)
	if err != nil {
		return nil, fmt.Errorf("bus: manifest of scan %s: %w", scanID, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, fmt.Sprintf(SubjectManifest, scanID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("bus: manifest of scan %s: %w", scanID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("bus: manifest of scan %s: %w", scanID, err)
	}
	return m.Data, nil
}

// PublishFrame publishes the counts of one projection (view) in one energy
// bin of a scan, with the caller's headers (image size, counts type, angle,
// exposure...) plus Ctrecon-Scan-Id, Ctrecon-Bin and Ctrecon-View, and waits
// for the server's acknowledgement.
//
// The message ID is "<scanID>/<bin>/<view>": after a dropped connection the
// publisher repeats every frame it holds no acknowledgement for, and the
// server stores each once, reporting duplicate for those it already had.
// The SCANS stream also keeps one message per frame subject, so a frame
// published again outside the duplicate window replaces the first copy.
//
// Errors wrap ErrInvalidID (bad scan ID, negative bin or view), ErrTooLarge
// (over the server's max_payload), or the jetstream error.
func (b *Bus) PublishFrame(ctx context.Context, scanID string, bin, view int, data []byte, hdr nats.Header) (duplicate bool, err error) {
	if err := ValidID("scan", scanID); err != nil {
		return false, err
	}
	if bin < 0 || view < 0 {
		return false, fmt.Errorf("%w: scan %s bin %d view %d: want non-negative", ErrInvalidID, scanID, bin, view)
	}
	h := make(nats.Header, len(hdr)+3)
	for k, v := range hdr {
		h[k] = append([]string(nil), v...)
	}
	h.Set(HeaderScanID, scanID)
	h.Set(HeaderBin, strconv.Itoa(bin))
	h.Set(HeaderView, strconv.Itoa(view))
	msg := &nats.Msg{Subject: fmt.Sprintf(SubjectFrame, scanID, bin, view), Header: h, Data: data}
	id := fmt.Sprintf("%s/%d/%d", scanID, bin, view)
	return b.publish(ctx, msg, id, fmt.Sprintf("scan %s bin %d view %d", scanID, bin, view))
}

// ListScans returns the IDs of the scans whose manifest is on SCANS,
// sorted: what a job that waits for a scan that never comes can name.
func (b *Bus) ListScans(ctx context.Context) ([]string, error) {
	stream, err := b.js.Stream(ctx, StreamScans)
	if err != nil {
		return nil, fmt.Errorf("bus: list scans: %w", err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(fmt.Sprintf(SubjectManifest, "*")))
	if err != nil {
		return nil, fmt.Errorf("bus: list scans: %w", err)
	}
	ids := make([]string, 0, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		ids = append(ids, strings.TrimSuffix(strings.TrimPrefix(subject, "scans."), ".manifest"))
	}
	slices.Sort(ids)
	return ids, nil
}

// publish sends msg with message ID id and waits for its acknowledgement;
// what names the message in errors.
func (b *Bus) publish(ctx context.Context, msg *nats.Msg, id, what string) (bool, error) {
	if size, limit := int64(len(msg.Data)), b.maxPayload(); limit > 0 && size > limit {
		return false, fmt.Errorf("%w: %s: %d bytes, server max_payload %d", ErrTooLarge, what, size, limit)
	}
	ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
	if errors.Is(err, nats.ErrMaxPayload) { // the headers tipped it over
		return false, fmt.Errorf("%w: %s: %w", ErrTooLarge, what, err)
	}
	if err != nil {
		return false, fmt.Errorf("bus: publish %s: %w", what, err)
	}
	return ack.Duplicate, nil
}

// FrameKind tells a manifest from a frame in ConsumeScan.
type FrameKind int

const (
	KindFrame    FrameKind = iota // counts of one view in one bin
	KindManifest                  // the scan's manifest
)

// Frame is a message of the SCANS stream.
type Frame struct {
	Kind      FrameKind
	ScanID    string
	Bin, View int // zero for the manifest
	Data      []byte
	Header    nats.Header
	Stored    time.Time // when the server stored it
	Pending   uint64    // messages of this scan stored after this one
}

// ConsumeScan calls fn with the manifest and every frame of a scan already
// stored, in the order they were stored, then with each new one as it is
// published, until fn returns an error or ctx ends. It uses an ordered
// consumer of its own, so it acknowledges nothing and leaves no state on the
// server; a Frame's Pending of 0 means fn has seen everything stored so far.
//
// It returns nil when fn returns ErrStop, the context's error when ctx ends,
// fn's other errors as they are, and errors wrapping ErrInvalidID or
// jetstream errors.
func (b *Bus) ConsumeScan(ctx context.Context, scanID string, fn func(Frame) error) error {
	if err := ValidID("scan", scanID); err != nil {
		return err
	}
	prefix := "scans." + scanID + "."
	return b.consumeOrdered(ctx, StreamScans, prefix+">", true, 0, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		f := Frame{ScanID: scanID, Data: m.Data(), Header: m.Headers(), Stored: meta.Timestamp, Pending: meta.NumPending}
		rest := strings.Split(strings.TrimPrefix(m.Subject(), prefix), ".")
		switch {
		case len(rest) == 1 && rest[0] == "manifest":
			f.Kind = KindManifest
		case len(rest) == 3 && rest[0] == "frames":
			var err1, err2 error
			f.Bin, err1 = strconv.Atoi(rest[1])
			f.View, err2 = strconv.Atoi(rest[2])
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("bus: frame subject %s: %w", m.Subject(), err)
			}
		default:
			return fmt.Errorf("bus: unexpected subject %s in %s", m.Subject(), StreamScans)
		}
		return fn(f)
	})
}

// consumeOrdered runs an ordered consumer on stream filtered by subject,
// from the stream sequence startSeq if it is not 0, else from the first
// message if fromStart or else from new ones, calling fn for each message
// until fn fails or ctx ends. See ConsumeScan for the results.
func (b *Bus) consumeOrdered(ctx context.Context, stream, subject string, fromStart bool, startSeq uint64,
	fn func(jetstream.Msg, *jetstream.MsgMetadata) error) error {
	policy := jetstream.DeliverNewPolicy
	switch {
	case startSeq > 0:
		policy = jetstream.DeliverByStartSequencePolicy
	case fromStart:
		policy = jetstream.DeliverAllPolicy
	}
	cons, err := b.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  policy,
		OptStartSeq:    startSeq,
	})
	if err != nil {
		return fmt.Errorf("bus: consume %s from %s: %w", subject, stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("bus: consume %s from %s: %w", subject, stream, err)
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("bus: consume %s from %s: %w", subject, stream, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("bus: consume %s from %s: %w", subject, stream, err)
		}
		if err := fn(m, meta); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
}
