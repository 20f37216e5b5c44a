// Package validjson encodes and decodes the messages of the features
// packages (feature vectors, feature records) as JSON, checking each with
// its Validate method on the way out and on the way in, so that nothing
// invalid is published or accepted.
package validjson

import (
	"encoding/json"
	"fmt"
)

// validator is a pointer to a message type T with a Validate method.
type validator[T any] interface {
	*T
	Validate() error
}

// Marshal encodes v as JSON after checking it with Validate.
func Marshal[T any, P validator[T]](v P) ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Unmarshal decodes one message written by Marshal and validates it.
// Unknown fields are ignored, so that older readers accept newer messages;
// trailing data is an error. A decoding error is wrapped in errBad.
func Unmarshal[T any, P validator[T]](data []byte, errBad error) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("%w: %w", errBad, err)
	}
	if err := P(&v).Validate(); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}
