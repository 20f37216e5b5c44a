package radiomics

import (
	"math"
	"math/cmplx"
	"runtime"
	"sync"
)

// fftSize returns the smallest length at least n whose only prime factors
// are 2, 3 and 5, which fft transforms.
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
// recursive mixed-radix Cooley-Tukey decimation in time.
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
		for _, r := range []int{5, 3, 2} {
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

// step transforms the n points in[0], in[stride], ... into out[:n].
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
		for q := range r {
			t[q] = out[q*m+k] * p.omega[q*k*stride]
		}
		for s := range r {
			var sum complex128
			for q := range r {
				sum += t[q] * p.omega[(q*s%r)*(p.n/r)]
			}
			out[k+s*m] = sum
		}
	}
}

// fft3 transforms a 3D array of size dims (x fastest) in place, forward or
// inverse (scaled by 1/N), axis by axis, lines spread over the CPUs.
func fft3(data []complex128, dims [3]int, inverse bool) {
	stride := [3]int{1, dims[0], dims[0] * dims[1]}
	for a := range 3 {
		n := dims[a]
		if n == 1 {
			continue
		}
		plan := newFFTPlan(n)
		b, c := (a+1)%3, (a+2)%3
		lines := dims[b] * dims[c]
		workers := min(runtime.GOMAXPROCS(0), lines)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in, out := make([]complex128, n), make([]complex128, n)
				for l := w; l < lines; l += workers {
					base := (l%dims[b])*stride[b] + (l/dims[b])*stride[c]
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
