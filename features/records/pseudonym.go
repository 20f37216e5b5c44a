package records

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// pseudonymDigits is the length of a pseudonym: 32 hex digits, 128 bits of
// the HMAC, ample against collisions between the patients of a deployment.
const pseudonymDigits = 32

// Pseudonymise returns the pseudonym of a patient ID under the
// deployment's key (bus.Bus.PseudonymKey): the first 128 bits of
// HMAC-SHA256(key, patientID), in hex. The same ID gives the same pseudonym
// within a deployment, so a patient's records stay linked; without the key
// the ID cannot be recovered, nor an ID guessed and checked, as a plain hash
// would allow. An empty ID or key gives an empty pseudonym: no patient is
// named.
func Pseudonymise(key []byte, patientID string) string {
	if patientID == "" || len(key) == 0 {
		return ""
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(patientID))
	return hex.EncodeToString(mac.Sum(nil))[:pseudonymDigits]
}

// isPseudonym reports whether s has the form Pseudonymise gives.
func isPseudonym(s string) bool {
	if len(s) != pseudonymDigits {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
