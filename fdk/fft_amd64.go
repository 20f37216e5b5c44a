package fdk

// The AVX2 versions of radix2..radix5 for an even s (fft_amd64.s).
//
//go:noescape
func radix2AVX2(x, y *complex128, s, m int, tw *complex128)

//go:noescape
func radix3AVX2(x, y *complex128, s, m int, tw *complex128)

//go:noescape
func radix4AVX2(x, y *complex128, s, m int, tw *complex128)

//go:noescape
func radix5AVX2(x, y *complex128, s, m int, tw *complex128)

// runVector does the stage from x into y with AVX2 and FMA, two values of
// k per instruction, and reports whether it could: it needs those
// extensions and an even s.
func (st *fftStage) runVector(x, y []complex128) bool {
	if !haveAVX2 || st.s%2 != 0 {
		return false
	}
	n := st.p * st.m * st.s
	if len(x) < n || len(y) < n || len(st.tw) < st.m*(st.p-1) {
		panic("fdk: fft stage buffers too short")
	}
	var tw *complex128
	if len(st.tw) > 0 {
		tw = &st.tw[0]
	}
	switch st.p {
	case 2:
		radix2AVX2(&x[0], &y[0], st.s, st.m, tw)
	case 3:
		radix3AVX2(&x[0], &y[0], st.s, st.m, tw)
	case 4:
		radix4AVX2(&x[0], &y[0], st.s, st.m, tw)
	case 5:
		radix5AVX2(&x[0], &y[0], st.s, st.m, tw)
	}
	return true
}
