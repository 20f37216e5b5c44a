package radiomics

import (
	"math"
	"math/cmplx"
	"runtime"
	"sync"
)

// fftSize returns the smallest length at least n whose only prime factors
// are 2, 3 and 5, which fftPlan transforms.
func fftSize(n int) int {
	for m := max(n, 1); ; m++ {
		k := m
		for _, p := range []int{2, 3, 5} {
			for k%p == 0 {
				k /= p
			}
		}
		if k == 1 {
			return m
		}
	}
}

// fftPlan transforms sequences of one length n = 2^a 3^b 5^c by a
// recursive mixed-radix Cooley-Tukey decimation in time (radices 4, 5, 3,
// 2, in that order of preference).
type fftPlan struct {
	n       int
	factors []int
	omega   []complex128 // exp(−2πik/n)
}

func newFFTPlan(n int) *fftPlan {
	p := &fftPlan{n: n, omega: make([]complex128, n)}
	for k := range p.omega {
		p.omega[k] = cmplx.Rect(1, -2*math.Pi*float64(k)/float64(n))
	}
	for m := n; m > 1; {
		for _, r := range []int{4, 5, 3, 2} {
			if m%r == 0 {
				p.factors = append(p.factors, r)
				m /= r
				break
			}
		}
	}
	return p
}

// forward sets out to the discrete Fourier transform of in (both of length
// n, distinct): out[k] = Σ_j in[j] exp(−2πijk/n).
func (p *fftPlan) forward(out, in []complex128) { p.step(out, in, p.n, 1, p.factors) }

// step transforms the n points in[0], in[stride], ... into out[:n]: r
// transforms of n/r interleaved points, then n/r butterflies of radix r.
func (p *fftPlan) step(out, in []complex128, n, stride int, factors []int) {
	if n == 1 {
		out[0] = in[0]
		return
	}
	r := factors[0]
	m := n / r
	for q := range r {
		p.step(out[q*m:(q+1)*m], in[q*stride:], m, stride*r, factors[1:])
	}
	var t [5]complex128
	for k := range m {
		t[0] = out[k]
		for q := 1; q < r; q++ {
			t[q] = out[q*m+k] * p.omega[q*k*stride]
		}
		switch r {
		case 2:
			out[k], out[k+m] = t[0]+t[1], t[0]-t[1]
		case 4: // exp(−2πi/4) = −i
			a, b := t[0]+t[2], t[0]-t[2]
			c, d := t[1]+t[3], (t[1]-t[3])*complex(0, -1)
			out[k], out[k+m], out[k+2*m], out[k+3*m] = a+c, b+d, a-c, b-d
		default:
			for s := range r {
				sum := t[0]
				for q := 1; q < r; q++ {
					sum += t[q] * p.omega[(q*s%r)*(p.n/r)]
				}
				out[k+s*m] = sum
			}
		}
	}
}

// fft3 transforms a 3D array of size dims (x fastest) in place, forward
// (axes x, y, z) or inverse (z, y, x; scaled by 1/N), lines spread over
// the CPUs. Data or results are wanted only in the box [0, support): a
// line along axis a is transformed only where its coordinates along the
// axes after a lie in the box. Going forward, data outside the box are
// zero and those lines stay zero until their axis comes; going back, those
// lines would only give values outside the box.
func fft3(data []complex128, dims, support [3]int, inverse bool) {
	stride := [3]int{1, dims[0], dims[0] * dims[1]}
	axes := []int{0, 1, 2}
	if inverse {
		axes = []int{2, 1, 0}
	}
	for _, a := range axes {
		n := dims[a]
		if n == 1 {
			continue
		}
		plan := newFFTPlan(n)
		b, c := (a+1)%3, (a+2)%3
		nb, nc := dims[b], dims[c]
		if b > a {
			nb = support[b]
		}
		if c > a {
			nc = support[c]
		}
		lines := nb * nc
		workers := min(runtime.GOMAXPROCS(0), lines)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in, out := make([]complex128, n), make([]complex128, n)
				for l := w; l < lines; l += workers {
					base := (l%nb)*stride[b] + (l/nb)*stride[c]
					for k := range n {
						in[k] = data[base+k*stride[a]]
						if inverse {
							in[k] = cmplx.Conj(in[k])
						}
					}
					plan.forward(out, in)
					for k := range n {
						if inverse {
							out[k] = cmplx.Conj(out[k]) / complex(float64(n), 0)
						}
						data[base+k*stride[a]] = out[k]
					}
				}
			}()
		}
		wg.Wait()
	}
}
