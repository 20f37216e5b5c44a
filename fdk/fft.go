package fdk

import (
	"fmt"
	"math"
)

// fft is a mixed-radix (2, 3, 4, 5) complex FFT of a fixed length, in the
// Stockham autosort form: each stage reads one buffer and writes the other,
// so no bit-reversal pass is needed and every stage's inner loop runs over
// contiguous runs of the buffers. Stages with an even s run in AVX2 where
// the processor has it (fft_amd64.s).
//
// The ramp filter needs a length of at least twice the row (rows are padded
// to avoid the wrap-around of circular convolution), and a power of two can
// be nearly twice that: 4096 for RabbitCT's 1248 columns. Mixed radix
// reaches 2500 = 2²·5⁴ instead. gonum's dsp/fourier (FFTPACK, real input)
// has mixed radix too, but filters a 1248-column row at that length in
// 125 µs of CPU time on the 2-core development machine, against 23 µs for
// this transform's Go stages and 8-10 µs with the AVX2 ones (bench:
// BenchmarkFilter); so ctrecon keeps its own.
type fft struct {
	n      int
	stages []fftStage
}

// fftStage is one decimation-in-frequency Stockham pass of radix p over
// sub-transforms of length pm, s of them interleaved (s is the product of
// the earlier radices, s·p·m = n):
//
//	y[k + s(pq + r)] = w^(rq) Σ_j x[k + s(q + mj)] e^(-2πi jr/p),  w = e^(-2πi/(pm)),
//
// for q < m, k < s and r < p.
type fftStage struct {
	p, s, m int
	// tw holds w^(rq) at q(p-1) + r-1 for r = 1..p-1.
	tw []complex128
}

// fftLength returns the length the ramp filter transforms rows padded to at
// least atLeast samples with: the smallest multiple of 4 whose quarter has
// no prime factor above 5. Four divides it so that the first and last
// stages are of radix 2, where half the samples are known to be zero (see
// filterPair).
func fftLength(atLeast int) int {
	for m := max(1, (atLeast+3)/4); ; m++ {
		if smooth(m) {
			return 4 * m
		}
	}
}

// smooth reports whether n has no prime factor above 5.
func smooth(n int) bool {
	for _, p := range []int{2, 3, 5} {
		for n%p == 0 {
			n /= p
		}
	}
	return n == 1
}

// newFFT returns the transform of length n, which must be positive with no
// prime factor above 5. A multiple of 4 is factored as 2, the radices of
// n/4, 2; the ramp filter relies on those radix-2 ends.
func newFFT(n int) *fft {
	if n < 1 || !smooth(n) {
		panic(fmt.Sprintf("fdk: fft length %d has a prime factor above 5", n))
	}
	var radices []int
	if n%4 == 0 {
		radices = append(append([]int{2}, factor(n/4)...), 2)
	} else {
		radices = factor(n)
	}
	f := &fft{n: n}
	s := 1
	for _, p := range radices {
		m := n / (s * p)
		st := fftStage{p: p, s: s, m: m, tw: make([]complex128, m*(p-1))}
		for q := range m {
			for r := 1; r < p; r++ {
				// rq reduced to one turn keeps the argument small.
				sin, cos := math.Sincos(-2 * math.Pi * float64(r*q%(p*m)) / float64(p*m))
				st.tw[q*(p-1)+r-1] = complex(cos, sin)
			}
		}
		f.stages = append(f.stages, st)
		s *= p
	}
	return f
}

// factor splits n (no prime factor above 5) into radices: 4s, at most one
// 2, then 3s and 5s.
func factor(n int) []int {
	var out []int
	for _, p := range []int{4, 2, 3, 5} {
		for n%p == 0 {
			out = append(out, p)
			n /= p
		}
	}
	return out
}

// transform computes the discrete Fourier transform X[k] = Σ_j x[j]
// e^(-2πi jk/n) of x, using work (also of length n) as the other buffer,
// and returns whichever of the two holds the result.
func (f *fft) transform(x, work []complex128) []complex128 {
	x, work = x[:f.n], work[:f.n]
	for i := range f.stages {
		f.stages[i].run(x, work)
		x, work = work, x
	}
	return x
}

// run does the stage from x into y, with the AVX2 routines where it can.
func (st *fftStage) run(x, y []complex128) {
	if st.runVector(x, y) {
		return
	}
	switch st.p {
	case 2:
		radix2(x, y, st.s, st.m, st.tw)
	case 3:
		radix3(x, y, st.s, st.m, st.tw)
	case 4:
		radix4(x, y, st.s, st.m, st.tw)
	case 5:
		radix5(x, y, st.s, st.m, st.tw)
	}
}

// The stages below follow fftStage's formula; x0..x(p-1) are the runs of s
// inputs q + mj, y0..y(p-1) the runs of outputs pq + r. Each reslices its
// runs to one length so that the inner loop has no bounds checks.

func radix2(x, y []complex128, s, m int, tw []complex128) {
	for q := range m {
		w1 := tw[q]
		x0, x1 := x[s*q:s*q+s], x[s*(q+m):s*(q+m)+s]
		y0, y1 := y[2*s*q:2*s*q+s], y[2*s*q+s:2*s*q+2*s]
		x1, y0, y1 = x1[:len(x0)], y0[:len(x0)], y1[:len(x0)]
		for k, a0 := range x0 {
			a1 := x1[k]
			y0[k] = a0 + a1
			y1[k] = (a0 - a1) * w1
		}
	}
}

// sin3 is sin(2π/3) = √3/2; fft_amd64.s has the same digits.
const sin3 = 0.86602540378443864676372317075293618347

func radix3(x, y []complex128, s, m int, tw []complex128) {
	for q := range m {
		w1, w2 := tw[2*q], tw[2*q+1]
		x0, x1, x2 := x[s*q:s*q+s], x[s*(q+m):s*(q+m)+s], x[s*(q+2*m):s*(q+2*m)+s]
		yq := y[3*s*q : 3*s*(q+1)]
		y0, y1, y2 := yq[:s], yq[s:2*s], yq[2*s:]
		x1, x2, y0, y1, y2 = x1[:len(x0)], x2[:len(x0)], y0[:len(x0)], y1[:len(x0)], y2[:len(x0)]
		for k, a0 := range x0 {
			a1, a2 := x1[k], x2[k]
			t := a1 + a2
			b := a0 - scale(0.5, t)
			d := negI(scale(sin3, a1-a2))
			y0[k] = a0 + t
			y1[k] = (b + d) * w1
			y2[k] = (b - d) * w2
		}
	}
}

func radix4(x, y []complex128, s, m int, tw []complex128) {
	for q := range m {
		w1, w2, w3 := tw[3*q], tw[3*q+1], tw[3*q+2]
		x0, x1 := x[s*q:s*q+s], x[s*(q+m):s*(q+m)+s]
		x2, x3 := x[s*(q+2*m):s*(q+2*m)+s], x[s*(q+3*m):s*(q+3*m)+s]
		yq := y[4*s*q : 4*s*(q+1)]
		y0, y1, y2, y3 := yq[:s], yq[s:2*s], yq[2*s:3*s], yq[3*s:]
		x1, x2, x3 = x1[:len(x0)], x2[:len(x0)], x3[:len(x0)]
		y0, y1, y2, y3 = y0[:len(x0)], y1[:len(x0)], y2[:len(x0)], y3[:len(x0)]
		for k, a0 := range x0 {
			a1, a2, a3 := x1[k], x2[k], x3[k]
			t0, t1 := a0+a2, a0-a2
			t2, d := a1+a3, a1-a3
			t3 := negI(d)
			y0[k] = t0 + t2
			y1[k] = (t1 + t3) * w1
			y2[k] = (t0 - t2) * w2
			y3[k] = (t1 - t3) * w3
		}
	}
}

// cos51, cos52, sin51, sin52 are the cosines and sines of 2π/5 and 4π/5;
// fft_amd64.s has the same digits.
const (
	cos51, cos52 = 0.30901699437494742410229341718281905886, -0.80901699437494742410229341718281905886
	sin51, sin52 = 0.95105651629515357211643933337938214340, 0.58778525229247312916870595463907276860
)

func radix5(x, y []complex128, s, m int, tw []complex128) {
	c1, c2, s1, s2 := cos51, cos52, sin51, sin52
	for q := range m {
		w := tw[4*q : 4*q+4]
		x0, x1 := x[s*q:s*q+s], x[s*(q+m):s*(q+m)+s]
		x2, x3 := x[s*(q+2*m):s*(q+2*m)+s], x[s*(q+3*m):s*(q+3*m)+s]
		x4 := x[s*(q+4*m) : s*(q+4*m)+s]
		yq := y[5*s*q : 5*s*(q+1)]
		y0, y1, y2, y3, y4 := yq[:s], yq[s:2*s], yq[2*s:3*s], yq[3*s:4*s], yq[4*s:]
		x1, x2, x3, x4 = x1[:len(x0)], x2[:len(x0)], x3[:len(x0)], x4[:len(x0)]
		y0, y1, y2, y3, y4 = y0[:len(x0)], y1[:len(x0)], y2[:len(x0)], y3[:len(x0)], y4[:len(x0)]
		for k, a0 := range x0 {
			a1, a2, a3, a4 := x1[k], x2[k], x3[k], x4[k]
			t1, t2, t3, t4 := a1+a4, a2+a3, a1-a4, a2-a3
			b1 := a0 + scale(c1, t1) + scale(c2, t2)
			b2 := a0 + scale(c2, t1) + scale(c1, t2)
			d1 := negI(scale(s1, t3) + scale(s2, t4))
			d2 := negI(scale(s2, t3) - scale(s1, t4))
			y0[k] = a0 + t1 + t2
			y1[k] = (b1 + d1) * w[0]
			y2[k] = (b2 + d2) * w[1]
			y3[k] = (b2 - d2) * w[2]
			y4[k] = (b1 - d1) * w[3]
		}
	}
}

// scale returns c·z for real c: two multiplications, where Go's complex
// product would take four.
func scale(c float64, z complex128) complex128 { return complex(c*real(z), c*imag(z)) }

// negI returns -i·z.
func negI(z complex128) complex128 { return complex(imag(z), -real(z)) }

// filterPair filters the real rows a and b (of one length, at most n/2) by
// the real, even frequency response resp (length n) in place: a circular
// convolution of the zero-padded rows. The two rows travel as one complex
// row a + ib; resp being real and even, the transform of each stays
// Hermitian and the two do not mix. x and y are work buffers of length n.
//
// The inverse transform is the forward one with the real and imaginary
// parts swapped on the way in and out (swap(DFT(swap(z))) is n times the
// inverse DFT). Both ends of the factorisation are of radix 2, which takes
// 2S-1 passes over the buffers for S stages where loading, two transforms,
// the product and storing would take 2S+3:
//   - the first stage reads the rows straight from float32, and half its
//     inputs are padding: each butterfly is one product;
//   - the forward transform's last stage, the response, the swap and the
//     inverse's first stage are one pass (they share their indices);
//   - the inverse's last stage computes only the len(a) outputs kept and
//     writes them straight to float32.
func (f *fft) filterPair(a, b []float32, resp []float64, x, y []complex128) {
	n, h := f.n, f.n/2
	first, last := &f.stages[0], &f.stages[len(f.stages)-1]
	if first.p != 2 || last.p != 2 || len(a) > h || len(b) != len(a) {
		panic("fdk: filterPair needs radix-2 ends and rows of at most half the length")
	}
	x, y, resp = x[:n], y[:n], resp[:n]
	tw := first.tw[:h]
	for q, v := range a { // stage 0: the second half of the input is zero
		z := complex(float64(v), float64(b[q]))
		x[2*q], x[2*q+1] = z, z*tw[q]
	}
	clear(x[2*len(a):])
	middle := f.stages[1 : len(f.stages)-1]
	for i := range middle {
		middle[i].run(x, y)
		x, y = y, x
	}
	for q := range h { // the last forward stage and the first inverse one
		c0, c1 := x[q]+x[q+h], x[q]-x[q+h]
		c0, c1 = swap(scale(resp[q], c0)), swap(scale(resp[q+h], c1))
		y[2*q], y[2*q+1] = c0+c1, (c0-c1)*tw[q]
	}
	x, y = y, x
	for i := range middle {
		middle[i].run(x, y)
		x, y = y, x
	}
	for k := range a { // the last inverse stage, only the outputs kept
		z := x[k] + x[k+h]
		a[k], b[k] = float32(imag(z)), float32(real(z))
	}
}

// swap exchanges the real and imaginary parts of z.
func swap(z complex128) complex128 { return complex(imag(z), real(z)) }
