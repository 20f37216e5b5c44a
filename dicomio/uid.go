package dicomio

import (
	"crypto/rand"
	"crypto/sha1"
	"math/big"
	"strconv"
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

// uidNamespace is the UUID namespace of DeriveUID's name-based UUIDs, a
// random UUID made once for ctrecon (451788c1-215d-4de3-8032-8480283605c3);
// it must never change, or every derived UID would.
var uidNamespace = [16]byte{0x45, 0x17, 0x88, 0xc1, 0x21, 0x5d, 0x4d, 0xe3, 0x80, 0x32, 0x84, 0x80, 0x28, 0x36, 0x05, 0xc3}

// NewUID returns a new globally unique DICOM UID, "2.25." followed by a random
// (version 4) UUID written as one decimal integer (ISO/IEC 9834-8, DICOM PS3.5
// B.2). Such UIDs need no organisation root registered with anyone, and at
// most 44 characters they fit the 64 that UI allows.
func NewUID() string {
	var u [16]byte
	rand.Read(u[:]) // never fails (crypto/rand documents it crashes instead)
	return uuidUID(u, 4)
}

// DeriveUID returns the DICOM UID named by parts: "2.25." and a name-based
// (version 5, SHA-1) UUID of ctrecon's namespace and the parts (RFC 9562
// 5.5), as one decimal integer. The same parts always give the same UID and
// different parts different ones (a collision is as unlikely as for random
// UUIDs), so work that is done again gets the identifiers it had.
//
// Each part is length-prefixed before hashing, so ("ab", "c") and ("a",
// "bc") differ. Callers name what the UID is for in the first part
// ("study", "series", ...), so that one identity gives each its own UID.
func DeriveUID(parts ...string) string {
	h := sha1.New()
	h.Write(uidNamespace[:])
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	return uuidUID([16]byte(h.Sum(nil)[:16]), 5)
}

// uuidUID sets the version and RFC 9562 variant bits of u and writes it as
// a 2.25 UID.
func uuidUID(u [16]byte, version byte) string {
	u[6] = u[6]&0x0f | version<<4
	u[8] = u[8]&0x3f | 0x80
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}

// ValidUID reports whether s is a well-formed UID (PS3.5 9.1): at most 64
// characters, dot-separated numbers without leading zeros.
func ValidUID(s string) bool {
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
