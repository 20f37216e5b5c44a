// Package settingshash gives the settings of a feature extractor a short,
// stable name, so that a feature record can say exactly how it was computed
// and an index can refuse to compare records computed differently.
package settingshash

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Of returns the first 16 hexadecimal digits (64 bits) of the SHA-256 of
// the JSON encoding of settings, a struct of plain values.
//
// encoding/json writes struct fields in declaration order and each float64
// as the shortest decimal that parses back to it, so the hash depends only on
// the values: the same settings give the same hash in every process and
// version of Go, and settings that differ in any field differ in their hash
// (up to a 2⁻⁶⁴ chance). Renaming, reordering or adding a field changes every
// hash; do that only together with the kind's version. A value JSON cannot
// encode (a NaN, a channel) panics: settings are validated before they are
// hashed.
func Of(settings any) string {
	data, err := json.Marshal(settings)
	if err != nil {
		panic(fmt.Sprintf("settingshash: %T cannot be encoded: %v", settings, err))
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}
