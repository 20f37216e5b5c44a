package index

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// simd selects the AVX2 kernels of distance_amd64.s.
var simd = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sqL2AVX2(a, b *float32, n int) float32

//go:noescape
func l1AVX2(a, b *float32, n int) float32

//go:noescape
func dotsAVX2(a, b *float32, n int) (ab, aa, bb float32)

//go:noescape
func sqDistAVX2(a, b *float32, n int, bound float64) float64

//go:noescape
func minMaxAVX2(a, b *float32, n int) (lo, hi float32)

//go:noescape
func sqL2Gather4AVX(q, data *float32, stride int, ids *uint32, n, last int, out *float32) int

//go:noescape
func sqL2GatherAVX2(q, data *float32, stride int, ids *uint32, n, dim, last int, out *float32) int

// The vector kernels take a and b of equal length, a multiple of 8 and
// not 0.

func sqL2Vec(a, b []float32) float32 { return sqL2AVX2(&a[0], &b[0], len(a)) }

func l1Vec(a, b []float32) float32 { return l1AVX2(&a[0], &b[0], len(a)) }

func dotsVec(a, b []float32) (ab, aa, bb float32) { return dotsAVX2(&a[0], &b[0], len(a)) }

func minMaxVec(a, b []float32) (lo, hi float32) { return minMaxAVX2(&a[0], &b[0], len(a)) }

// sqDistVec is sqDist's float64 kernel; a and b have a length that is a
// multiple of 16, not 0.
func sqDistVec(a, b []float32, bound float64) float64 { return sqDistAVX2(&a[0], &b[0], len(a), bound) }

// sqL2Ranks is Euclidean's RanksFunc on the AVX2 kernels, for a query of
// 4 or at least 8 values: sqL2's rank of each vector, to the bit (the
// kernel's sum of the first multiple of 8 values, plus sqL2Go's of the
// rest; for 4 values, sqL2Go's sum in one register).
func sqL2Ranks(q, data []float32, stride int, ids []uint32, out []float32) {
	if len(ids) == 0 {
		return
	}
	out = out[:len(ids)]
	head := len(q) &^ 7
	if head == 0 && len(q) != 4 || stride < 1 || len(data) < len(q) {
		ranksWith(sqL2)(q, data, stride, ids, out) // (which panics on any id when no vector fits)
		return
	}
	// the byte offset of the last vector that lies inside data: the
	// kernels check each id against it (no division per call)
	last := 4 * (len(data) - len(q))
	if len(q) == 4 { // no tail: returns at once, as HNSW calls it for every node it expands
		if j := sqL2Gather4AVX(&q[0], unsafe.SliceData(data), stride, &ids[0], len(ids), last, &out[0]); j < len(ids) {
			panicPast(ids[j], stride, len(data))
		}
		return
	}
	if j := sqL2GatherAVX2(&q[0], unsafe.SliceData(data), stride, &ids[0], len(ids), head, last, &out[0]); j < len(ids) {
		panicPast(ids[j], stride, len(data))
	}
	if tail := q[head:]; len(tail) > 0 {
		for j, id := range ids {
			i := int(id)*stride + head
			out[j] += sqL2Go(tail, data[i:i+len(tail)])
		}
	}
}

// panicPast panics for an id whose vector reaches past the n values of a
// RanksFunc's data.
func panicPast(id uint32, stride, n int) {
	panic(fmt.Sprintf("index: the vector of id %d at stride %d reaches past the %d values given", id, stride, n))
}

// setSIMD turns the vector kernels on or off, for tests that compare them
// with the plain Go loops.
func setSIMD(on bool) { simd = on && cpu.X86.HasAVX2 && cpu.X86.HasFMA }

//go:noescape
func prefetchAsm(p *float32, n int)

// Prefetch asks the processor to bring v into the cache while other work
// goes on: an index that knows which vector it measures next calls it
// first, so that memory latency overlaps the distance it computes now.
func Prefetch(v []float32) {
	if len(v) > 0 {
		prefetchAsm(&v[0], len(v))
	}
}
