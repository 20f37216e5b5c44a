package dicomio

import (
	"crypto/rand"
	"math/big"
	"strings"
)

// implementationClassUID names ctrecon as the writer of a file (file meta
// group). It is a 2.25 UID made once from a random UUID, so that it needs no
// registered root; it must never change.
const implementationClassUID = "2.25.188412174041608409739558479161204400488"

// Fixed UIDs from DICOM PS3.6 Annex A.
const (
	ctImageStorage         = "1.2.840.10008.5.1.4.1.1.2"
	explicitVRLittleEndian = "1.2.840.10008.1.2.1"
)

// NewUID returns a new globally unique DICOM UID, "2.25." followed by a random
// (version 4) UUID written as one decimal integer (ISO/IEC 9834-8, DICOM PS3.5
// B.2). Such UIDs need no organisation root registered with anyone, and at
// most 44 characters they fit the 64 that UI allows.
func NewUID() string {
	var u [16]byte
	rand.Read(u[:])         // never fails (crypto/rand documents it crashes instead)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}

// validUID reports whether s is a well-formed UID (PS3.5 9.1): at most 64
// characters, dot-separated numbers without leading zeros.
func validUID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for c := range strings.SplitSeq(s, ".") {
		if c == "" || (len(c) > 1 && c[0] == '0') {
			return false
		}
		for i := range len(c) {
			if c[i] < '0' || c[i] > '9' {
				return false
			}
		}
	}
	return true
}
