package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/features/internal/validjson"
)

// ErrRecord is wrapped by every error about a record, its encoding or a
// Parquet file of records; the message names the field or column.
var ErrRecord = errors.New("invalid feature record")

// Record is one feature kind's values for one bin of a scan, of the whole
// volume, one axial slice or one object.
type Record struct {
	ScanID string `json:"scan_id"`
	// JobID is the reconstruction job that made the volume; empty offline.
	JobID string `json:"job_id,omitempty"`
	// Patient is the pseudonymised patient ID (Pseudonymise), empty when
	// the scan names no patient or no key was given. Never a name.
	Patient   string `json:"patient,omitempty"`
	StudyUID  string `json:"study_uid"`
	SeriesUID string `json:"series_uid"`
	// Bin is the energy bin's number in the scan (0 for a single-energy CT).
	Bin int `json:"bin"`
	// Slice is the axial slice's z index, or −1 for the whole volume.
	Slice int `json:"slice"`
	// Object is the object's label (segment.Object.Label), or 0 for the
	// whole volume or slice.
	Object int64 `json:"object"`
	// Class is the object's material class, if it has one.
	Class string `json:"class,omitempty"`
	// Kind names the extractor ("radiomics", "hist-hu") and Version its
	// version: records of another kind or version are not comparable.
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	// Settings is the hash of the extraction settings (16 hex digits,
	// features/internal/settingshash).
	Settings string `json:"settings_hash"`
	// Values is the feature vector; NaN where a feature is undefined.
	Values Vector `json:"values"`
	// Data is the kind's structured result as JSON (a metric histogram's
	// control points, a virtual image's relations), when it has one.
	Data json.RawMessage `json:"data,omitempty"`
}

// KindVersion returns the kind with its version, as the extractors name
// their results: "hist-hu-v1".
func (r *Record) KindVersion() string { return r.Kind + "-v" + strconv.Itoa(r.Version) }

// SplitKind splits an extractor's kind with its version ("mhist-hu-v1")
// into the kind and the version. Errors wrap ErrRecord.
func SplitKind(kindVersion string) (kind string, version int, err error) {
	i := strings.LastIndex(kindVersion, "-v")
	if i > 0 {
		if v, err := strconv.Atoi(kindVersion[i+2:]); err == nil && v > 0 {
			return kindVersion[:i], v, nil
		}
	}
	return "", 0, fmt.Errorf("%w: kind %q: want NAME-vVERSION", ErrRecord, kindVersion)
}

// Key names the record within its job: "bin2/slice7/object3/radiomics-v1",
// what bus.PublishJobFeatures deduplicates on.
func (r *Record) Key() string {
	return fmt.Sprintf("bin%d/slice%d/object%d/%s", r.Bin, r.Slice, r.Object, r.KindVersion())
}

// Validate reports a record that must not leave the extractor: a missing
// kind, version or settings hash, a negative bin or object, a slice below
// −1, data that is not JSON, or a patient field that is not a pseudonym
// (so that an ID or a name put there by mistake is refused). Errors wrap
// ErrRecord and name the field.
func (r *Record) Validate() error {
	switch {
	case r.Kind == "" || strings.ContainsAny(r.Kind, " ./*>"):
		return fmt.Errorf("%w: kind %q: want a name without spaces, dots or wildcards", ErrRecord, r.Kind)
	case r.Version < 1:
		return fmt.Errorf("%w: %s: version %d, want 1 or more", ErrRecord, r.Kind, r.Version)
	case r.Settings == "":
		return fmt.Errorf("%w: %s: settings_hash is empty", ErrRecord, r.KindVersion())
	case r.Bin < 0:
		return fmt.Errorf("%w: %s: bin %d is negative", ErrRecord, r.KindVersion(), r.Bin)
	case r.Slice < -1:
		return fmt.Errorf("%w: %s: slice %d, want a z index or -1", ErrRecord, r.KindVersion(), r.Slice)
	case r.Object < 0:
		return fmt.Errorf("%w: %s: object %d is negative", ErrRecord, r.KindVersion(), r.Object)
	case r.Patient != "" && !isPseudonym(r.Patient):
		return fmt.Errorf("%w: %s: patient is not a pseudonym (want %d hex digits from Pseudonymise)", ErrRecord, r.KindVersion(), pseudonymDigits)
	case len(r.Data) > 0 && !json.Valid(r.Data):
		return fmt.Errorf("%w: %s: data is not JSON", ErrRecord, r.KindVersion())
	}
	return nil
}

// Marshal encodes r as the JSON object published on the FEATURES stream,
// after checking it with Validate. NaN values are written as null.
func Marshal(r *Record) ([]byte, error) { return validjson.Marshal(r) }

// Unmarshal decodes one message written by Marshal and validates it.
// Unknown fields are ignored, so that older readers accept newer records.
// Errors wrap ErrRecord.
func Unmarshal(data []byte) (Record, error) { return validjson.Unmarshal[Record](data, ErrRecord) }

// Vector is a feature vector. In JSON a NaN (an undefined feature) is null;
// infinities are refused, as JSON cannot hold them either.
type Vector []float32

// MarshalJSON writes the values with null for NaN.
func (v Vector) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		switch {
		case math.IsNaN(float64(x)):
			b.WriteString("null")
		case math.IsInf(float64(x), 0):
			return nil, fmt.Errorf("%w: values[%d] is %g", ErrRecord, i, x)
		default:
			b.Write(strconv.AppendFloat(nil, float64(x), 'g', -1, 32))
		}
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *Vector) UnmarshalJSON(data []byte) error {
	var xs []*float32
	if err := json.Unmarshal(data, &xs); err != nil {
		return err
	}
	out := make(Vector, len(xs))
	for i, x := range xs {
		out[i] = float32(math.NaN())
		if x != nil {
			out[i] = *x
		}
	}
	*v = out
	return nil
}
