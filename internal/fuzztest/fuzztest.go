// Package fuzztest holds what the fuzz targets of several packages share:
// a measure of how much a parser allocates, to catch a header that makes
// it allocate what the header promises instead of what the input holds.
package fuzztest

import (
	"runtime"
	"testing"
)

// Allocated returns the heap bytes fn allocates. Fuzz inputs run one at a
// time in each worker process, so the count is fn's own.
func Allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// AllocBound fails t when fn allocates more than perByte bytes for each
// byte of an input of size n, plus a fixed slack for buffers and error
// text. perByte is the parser's own expansion (a float32 read into a
// float64 is 2), with room for a copy or two.
func AllocBound(t testing.TB, n int, perByte, slack uint64, fn func()) {
	t.Helper()
	if got, limit := Allocated(fn), perByte*uint64(n)+slack; got > limit {
		t.Fatalf("allocated %d bytes for a %d-byte input (limit %d): a size in the input was trusted", got, n, limit)
	}
}
