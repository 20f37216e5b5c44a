package features

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/features/internal/validjson"
)

// ErrVector is wrapped by every error about a Vector, its identifiers or its
// encoding; the message names the field.
var ErrVector = errors.New("invalid feature vector")

// ErrKey is wrapped by the errors of ParseKey.
var ErrKey = errors.New("invalid feature key")

// Vector is one feature vector of one energy bin of a series: of the whole
// volume (Slice -1) or of one axial slice.
type Vector struct {
	StudyUID  string `json:"study_uid"`
	SeriesUID string `json:"series_uid"`
	// Bin is the energy bin's index as the scan names it.
	Bin int `json:"bin"`
	// Slice is the z index of the axial slice, counted from 0, or -1 for
	// the whole volume.
	Slice int `json:"slice"`
	// Kind names the extractor and its version, e.g. KindHistHU. Vectors of
	// different kinds are not comparable.
	Kind   string    `json:"kind"`
	Values []float32 `json:"values"`
}

// Key returns "SERIES_UID" for a whole volume and "SERIES_UID:SLICE" for a
// slice. ParseKey reverses it.
func (v *Vector) Key() string { return Key(v.SeriesUID, v.Slice) }

// Key returns the key of a series' volume (slice -1) or of one of its slices.
func Key(seriesUID string, slice int) string {
	if slice < 0 {
		return seriesUID
	}
	return seriesUID + ":" + strconv.Itoa(slice)
}

// ParseKey splits "SERIES_UID[:SLICE]" into the series UID and the slice, -1
// when there is none. SLICE is a decimal z index. Errors wrap ErrKey.
func ParseKey(key string) (seriesUID string, slice int, err error) {
	series, z, hasSlice := strings.Cut(key, ":")
	if series == "" {
		return "", 0, fmt.Errorf("%w %q: the series UID is empty (want SERIES_UID[:SLICE])", ErrKey, key)
	}
	if !hasSlice {
		return series, -1, nil
	}
	if z == "" || strings.Trim(z, "0123456789") != "" {
		return "", 0, fmt.Errorf("%w %q: slice %q is not a z index (want SERIES_UID[:SLICE], SLICE a non-negative integer)", ErrKey, key, z)
	}
	n, err := strconv.Atoi(z)
	if err != nil {
		return "", 0, fmt.Errorf("%w %q: slice %q: %w", ErrKey, key, z, err)
	}
	return series, n, nil
}

// Validate reports a vector that cannot be published: an empty or colon-
// bearing UID, a negative bin, a slice below -1, no kind, no values, or a
// value that is NaN or infinite. Errors wrap ErrVector.
func (v *Vector) Validate() error {
	if err := validateIDs(v.StudyUID, v.SeriesUID, v.Bin); err != nil {
		return err
	}
	if v.Slice < -1 {
		return fmt.Errorf("%w: slice %d, want a z index or -1 for the whole volume", ErrVector, v.Slice)
	}
	if v.Kind == "" {
		return fmt.Errorf("%w: kind is empty", ErrVector)
	}
	if len(v.Values) == 0 {
		return fmt.Errorf("%w: %s of %s has no values", ErrVector, v.Kind, v.Key())
	}
	for i, x := range v.Values {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: %s of %s: values[%d] is %g", ErrVector, v.Kind, v.Key(), i, x)
		}
	}
	return nil
}

func validateIDs(study, series string, bin int) error {
	switch {
	case study == "":
		return fmt.Errorf("%w: study_uid is empty", ErrVector)
	case series == "":
		return fmt.Errorf("%w: series_uid is empty", ErrVector)
	case strings.ContainsRune(series, ':'):
		// The colon separates the slice in a key.
		return fmt.Errorf("%w: series_uid %q contains ':'", ErrVector, series)
	case bin < 0:
		return fmt.Errorf("%w: bin %d is negative", ErrVector, bin)
	}
	return nil
}

// Marshal encodes v as the JSON object published on the features stream,
// after checking it with Validate. JSON keeps the messages readable and lets
// later versions add fields; float32 values round-trip exactly (encoding/json
// writes the shortest decimal that parses back to the same float32). A
// 64-bin histogram takes about 600 bytes.
func Marshal(v *Vector) ([]byte, error) { return validjson.Marshal(v) }

// Unmarshal decodes one message written by Marshal and validates it. Unknown
// fields are ignored, so that older readers accept newer messages; trailing
// data is an error. Errors wrap ErrVector.
func Unmarshal(data []byte) (Vector, error) { return validjson.Unmarshal[Vector](data, ErrVector) }
