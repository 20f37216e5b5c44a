package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// uidPattern is a DICOM UID (PS3.5 9.1): digit components separated by
// dots, at most 64 characters.
var uidPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// uidToken checks a DICOM UID and writes it as one subject token, its dots
// replaced by underscores.
func uidToken(kind, uid string) (string, error) {
	if len(uid) > 64 || !uidPattern.MatchString(uid) {
		return "", fmt.Errorf("%w: %s UID %q: want a DICOM UID (digits and dots, at most 64)", ErrInvalidID, kind, uid)
	}
	return strings.ReplaceAll(uid, ".", "_"), nil
}

// HeaderRecord names a job's feature record (see PublishJobFeatures).
const HeaderRecord = "Ctrecon-Record"

// PublishFeatures publishes the feature vectors of one series (the
// encoding is the features package's) on features.<study>.<series>, with
// the caller's headers plus Ctrecon-Study-Uid and Ctrecon-Series-Uid, and
// waits for the acknowledgement. The message ID is the UIDs and a SHA-256 of
// data, so repeating a publish stores it once; a series published again
// with other data is stored again, and the newest wins.
//
// Errors wrap ErrInvalidID, ErrTooLarge or the jetstream error.
func (b *Bus) PublishFeatures(ctx context.Context, studyUID, seriesUID string, data []byte, hdr nats.Header) (duplicate bool, err error) {
	sum := sha256.Sum256(data)
	id := studyUID + "/" + seriesUID + "/" + hex.EncodeToString(sum[:16])
	return b.publishFeatures(ctx, studyUID, seriesUID, data, hdr, id)
}

// PublishJobFeatures publishes one feature record of a job, as
// PublishFeatures does, with the message ID "<jobID>/<record>" and the
// headers Ctrecon-Job-Id and Ctrecon-Record: every attempt of a job names
// a record the same way, so a record that a second attempt publishes again
// within the duplicate window is dropped, and the search index drops it
// after that (search.Follower). record is what the job's record is of, e.g.
// "bin2/slice7/hist-hu-v1".
//
// Errors wrap ErrInvalidID, ErrTooLarge or the jetstream error.
func (b *Bus) PublishJobFeatures(ctx context.Context, jobID, record, studyUID, seriesUID string, data []byte) (duplicate bool, err error) {
	if err := ValidID("job", jobID); err != nil {
		return false, err
	}
	hdr := nats.Header{HeaderJobID: []string{jobID}, HeaderRecord: []string{record}}
	return b.publishFeatures(ctx, studyUID, seriesUID, data, hdr, jobID+"/"+record)
}

// publishFeatures publishes data on the series' subject with message ID id.
func (b *Bus) publishFeatures(ctx context.Context, studyUID, seriesUID string, data []byte, hdr nats.Header, id string) (bool, error) {
	study, err := uidToken("study", studyUID)
	if err != nil {
		return false, err
	}
	series, err := uidToken("series", seriesUID)
	if err != nil {
		return false, err
	}
	h := make(nats.Header, len(hdr)+2)
	for k, v := range hdr {
		h[k] = append([]string(nil), v...)
	}
	h.Set(HeaderStudyUID, studyUID)
	h.Set(HeaderSeriesUID, seriesUID)
	msg := &nats.Msg{Subject: fmt.Sprintf(SubjectFeatures, study, series), Header: h, Data: data}
	return b.publish(ctx, msg, id, "features of series "+seriesUID)
}

// Feature is a message of the FEATURES stream.
type Feature struct {
	StudyUID, SeriesUID string
	Data                []byte
	Header              nats.Header
	Sequence            uint64    // stream sequence, increasing
	Stored              time.Time // when the server stored it
	Pending             uint64    // messages stored after this one
}

// ConsumeFeatures calls fn with every feature message, from the first ever
// stored if fromStart (the search service does this on restart, to rebuild
// its indexes) or else from the next one published, until fn returns an
// error or ctx ends. A Feature's Pending of 0 means fn has caught up with
// the stream. It uses an ordered consumer of its own: nothing is
// acknowledged and nothing is left on the server.
//
// It returns nil when fn returns ErrStop, the context's error when ctx
// ends, fn's other errors as they are, or jetstream errors.
func (b *Bus) ConsumeFeatures(ctx context.Context, fromStart bool, fn func(Feature) error) error {
	return b.consumeFeatures(ctx, fromStart, 0, fn)
}

// ConsumeFeaturesFrom calls fn with every feature message from the stream
// sequence seq on (1 and 0 are the first message), as ConsumeFeatures
// does: the search service replays what came after its snapshot so.
func (b *Bus) ConsumeFeaturesFrom(ctx context.Context, seq uint64, fn func(Feature) error) error {
	return b.consumeFeatures(ctx, true, seq, fn)
}

func (b *Bus) consumeFeatures(ctx context.Context, fromStart bool, seq uint64, fn func(Feature) error) error {
	return b.consumeOrdered(ctx, StreamFeatures, "features.*.*", fromStart, seq, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		h := m.Headers()
		return fn(Feature{
			StudyUID:  h.Get(HeaderStudyUID),
			SeriesUID: h.Get(HeaderSeriesUID),
			Data:      m.Data(),
			Header:    h,
			Sequence:  meta.Sequence.Stream,
			Stored:    meta.Timestamp,
			Pending:   meta.NumPending,
		})
	})
}
