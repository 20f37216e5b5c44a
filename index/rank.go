package index

// The float32 ranks of the built-in metrics. Each runs the vector kernel
// (AVX2 on amd64 when the processor has it) over the longest multiple of 8
// values and plain Go over the rest; the plain Go loops, with four
// accumulators, are the whole computation elsewhere. Measured on the 2-core
// development machine (docs/ARCHITECTURE.md): AVX2 is 3 to 6 times faster
// than these loops for 64 to 128 values.

func sqL2(a, b []float32) float32 {
	if simd && len(a)&7 == 0 && len(a) > 0 { // one call for the usual lengths
		return sqL2Vec(a, b[:len(a)])
	}
	n, s := 0, float32(0)
	if simd && len(a) >= 8 {
		n = len(a) &^ 7
		s = sqL2Vec(a[:n], b[:n])
	}
	return s + sqL2Go(a[n:], b[n:len(a)])
}

func l1(a, b []float32) float32 {
	n, s := 0, float32(0)
	if simd && len(a) >= 8 {
		n = len(a) &^ 7
		s = l1Vec(a[:n], b[:n])
	}
	return s + l1Go(a[n:], b[n:len(a)])
}

func cosineRank(a, b []float32) float32 {
	n := 0
	var ab, aa, bb float32
	if simd && len(a) >= 8 {
		n = len(a) &^ 7
		ab, aa, bb = dotsVec(a[:n], b[:n])
	}
	ab2, aa2, bb2 := dotsGo(a[n:], b[n:len(a)])
	return float32(cosineOf(float64(ab+ab2), float64(aa+aa2), float64(bb+bb2)))
}

func jaccardRank(a, b []float32) float32 {
	n := 0
	var lo, hi float32
	if simd && len(a) >= 8 {
		n = len(a) &^ 7
		lo, hi = minMaxVec(a[:n], b[:n])
	}
	lo2, hi2 := minMaxGo(a[n:], b[n:len(a)])
	return float32(jaccardOf(float64(lo+lo2), float64(hi+hi2)))
}

func sqL2Go(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0, d1, d2, d3 := a[i]-b[i], a[i+1]-b[i+1], a[i+2]-b[i+2], a[i+3]-b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// sqL2RanksGo is the RanksFunc of sqL2Go: sqL2's rank where it runs no
// vector kernel (fewer than 8 values, or no AVX2), the same float32 to the
// bit, with the arithmetic of sqL2Go written out in the loop over the
// vectors.
func sqL2RanksGo(q, data []float32, stride int, ids []uint32, out []float32) {
	out = out[:len(ids)]
	n := len(q)
	for j, id := range ids {
		i := int(id) * stride
		v := data[i : i+n : i+n]
		var s0, s1, s2, s3 float32
		k := 0
		for ; k+4 <= n; k += 4 {
			d0, d1, d2, d3 := q[k]-v[k], q[k+1]-v[k+1], q[k+2]-v[k+2], q[k+3]-v[k+3]
			s0 += d0 * d0
			s1 += d1 * d1
			s2 += d2 * d2
			s3 += d3 * d3
		}
		for ; k < n; k++ {
			d := q[k] - v[k]
			s0 += d * d
		}
		out[j] = (s0 + s1) + (s2 + s3)
	}
}

func l1Go(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += abs32(a[i] - b[i])
		s1 += abs32(a[i+1] - b[i+1])
		s2 += abs32(a[i+2] - b[i+2])
		s3 += abs32(a[i+3] - b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += abs32(a[i] - b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func dotsGo(a, b []float32) (ab, aa, bb float32) {
	b = b[:len(a)]
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	return ab, aa, bb
}

func minMaxGo(a, b []float32) (lo, hi float32) {
	b = b[:len(a)]
	for i := range a {
		lo += min(a[i], b[i])
		hi += max(a[i], b[i])
	}
	return lo, hi
}
