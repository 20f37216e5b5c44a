package dicomio

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Value formats and limits of DICOM PS3.5 6.2, for the value representations
// this package writes. The dicom library pads odd-length values (spaces for
// text, NUL for UI) but checks nothing else, so the rest is done here.

// formatDS writes v as a decimal string of at most 16 characters, with as
// many significant digits as fit. v must be finite.
func formatDS(v float64) string {
	s := strconv.FormatFloat(v, 'g', -1, 64)
	for prec := 15; len(s) > 16 && prec > 0; prec-- {
		s = strconv.FormatFloat(v, 'g', prec, 64)
	}
	return s
}

// formatDA and formatTM write a date and a time of day as DA (YYYYMMDD) and
// TM (HHMMSS.FFFFFF); the zero time is written as an empty value, which
// type 2 attributes allow.
func formatDA(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("20060102")
}

func formatTM(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("150405.000000")
}

// formatTZ writes t's offset from UTC as TimezoneOffsetFromUTC wants it
// (&ZZXX, e.g. +1300), which says how to read every DA and TM in the file.
func formatTZ(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%c%02d%02d", sign, off/3600, off/60%60)
}

// parseDate accepts a date as DICOM writes it (20060102) or as ISO 8601
// does (2006-01-02) and returns it in DA form; empty stays empty.
func parseDate(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	for _, layout := range []string{"20060102", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format("20060102"), nil
		}
	}
	return "", fmt.Errorf("%q is not a date (YYYYMMDD or YYYY-MM-DD)", s)
}

// maxChars is the longest value, in characters, of each text VR (PS3.5
// table 6.2-1). For PN the limit is per component group.
var maxChars = map[string]int{"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "LT": 10240}

var (
	dsPattern = regexp.MustCompile(`^ *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)? *$`)
	isPattern = regexp.MustCompile(`^ *[+-]?[0-9]+ *$`)
	tmPattern = regexp.MustCompile(`^([01][0-9]|2[0-3])(([0-5][0-9])(([0-5][0-9]|60)(\.[0-9]{1,6})?)?)?$`)
)

// CheckValue reports why value cannot be one value of an attribute of
// value representation vr (PS3.5 6.2): too long (LO 64 characters, SH 16,
// CS 16, PN 64 per component group, ...), a character the VR does not
// allow, or not the VR's format (DA YYYYMMDD and a real date, TM
// HHMMSS.FFFFFF or a prefix of it, DS a decimal of at most 16 characters,
// IS an integer of at most 12 in int32's range, UI a UID). The empty value
// is allowed: whether an attribute may be empty is its type's matter. For
// checking what will reach a DICOM file before the work that writes it.
func CheckValue(vr, value string) error {
	if value == "" {
		return nil
	}
	switch vr {
	case "AE", "CS", "SH", "LO", "PN", "LT":
		return checkText(vr, value)
	case "DA":
		if _, err := time.Parse("20060102", value); err != nil || len(value) != 8 {
			return fmt.Errorf("%q is not a date YYYYMMDD", value)
		}
	case "TM":
		if !tmPattern.MatchString(value) {
			return fmt.Errorf("%q is not a time of day HHMMSS.FFFFFF", value)
		}
	case "DS":
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if len(value) > 16 || !dsPattern.MatchString(value) || err != nil || !finite(v) {
			return fmt.Errorf("%q is not a decimal string (at most 16 characters, finite)", value)
		}
	case "IS":
		v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if len(value) > 12 || !isPattern.MatchString(value) || err != nil || v < math.MinInt32 || v > math.MaxInt32 {
			return fmt.Errorf("%q is not an integer string (at most 12 characters, within ±2^31)", value)
		}
	case "UI":
		if !ValidUID(value) {
			return fmt.Errorf("%q is not a UID (dot-separated numbers without leading zeros, at most 64 characters)", value)
		}
	default:
		return fmt.Errorf("value representation %q is not one ctrecon writes", vr)
	}
	return nil
}

// checkText reports a value that its VR forbids: too long, a backslash in
// a single value (it separates values), control characters, or characters
// CS does not allow (upper case letters, digits, space and underscore).
func checkText(vr, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not valid UTF-8", s)
	}
	groups := []string{s}
	if vr == "PN" {
		groups = strings.Split(s, "=")
		if len(groups) > 3 {
			return fmt.Errorf("%q has %d component groups, PN allows 3", s, len(groups))
		}
	}
	for _, g := range groups {
		if n := utf8.RuneCountInString(g); n > maxChars[vr] {
			return fmt.Errorf("%q has %d characters, %s allows %d", g, n, vr, maxChars[vr])
		}
	}
	for _, g := range groups {
		if strings.Count(g, "^") > 4 {
			return fmt.Errorf("%q has more than 5 components (separated by ^)", s)
		}
	}
	for _, r := range s {
		switch {
		case r == '\\' && vr != "LT":
			return fmt.Errorf("%q contains a backslash, which separates DICOM values", s)
		case r == 0x7f || r < 0x20 && !(vr == "LT" && (r == '\n' || r == '\r' || r == '\t' || r == '\f')):
			return fmt.Errorf("%q contains control character %U", s, r)
		case vr == "CS" && !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || r == '_'):
			return fmt.Errorf("%q: CS allows only upper case letters, digits, space and underscore", s)
		}
	}
	return nil
}

// latin1 reports whether every character of s is in ISO 8859-1.
func latin1(s string) bool {
	for _, r := range s {
		if r > 0xff {
			return false
		}
	}
	return true
}

// toLatin1 re-encodes s, which latin1 accepted, from UTF-8 to ISO 8859-1.
func toLatin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return string(b)
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
