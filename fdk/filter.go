package fdk

import (
	"fmt"
	"math"
	"strings"
)

// Window shapes the ramp filter's frequency response to trade resolution for
// noise.
type Window int

// The apodisation windows, with f the frequency divided by the cut-off
// (f in [0, 1]; the response is zero above the cut-off).
const (
	RamLak     Window = iota // 1: the bare ramp
	SheppLogan               // sinc(f/2)
	Cosine                   // cos(πf/2)
	Hamming                  // 0.54 + 0.46 cos(πf)
	Hann                     // 0.5 + 0.5 cos(πf)
)

var windowNames = []string{"ram-lak", "shepp-logan", "cosine", "hamming", "hann"}

func (w Window) String() string {
	if int(w) < len(windowNames) {
		return windowNames[w]
	}
	return fmt.Sprintf("Window(%d)", int(w))
}

// ParseWindow returns the window with the given name.
func ParseWindow(name string) (Window, error) {
	for i, n := range windowNames {
		if strings.EqualFold(name, n) {
			return Window(i), nil
		}
	}
	return 0, fmt.Errorf("unknown filter window %q (want one of %s)", name, strings.Join(windowNames, ", "))
}

func (w Window) gain(f float64) float64 {
	switch w {
	case SheppLogan:
		if f == 0 {
			return 1
		}
		x := math.Pi * f / 2
		return math.Sin(x) / x
	case Cosine:
		return math.Cos(math.Pi * f / 2)
	case Hamming:
		return 0.54 + 0.46*math.Cos(math.Pi*f)
	case Hann:
		return 0.5 + 0.5*math.Cos(math.Pi*f)
	}
	return 1
}

// RampFilter filters detector rows with a windowed ramp. It is not safe for
// concurrent use: give each goroutine its own (see Clone).
type RampFilter struct {
	response []float64 // real, even frequency response of length n, scale included
	fft      *fft
	re, im   []float64
}

// NewRampFilter returns a filter for rows of cols samples spaced tau
// millimetres apart at the isocentre. pad is the zero-padded length as a
// multiple of cols (at least 2, which avoids the wrap-around of circular
// convolution); cutoff is the fraction of the Nyquist frequency kept, in
// (0, 1].
//
// The response is the Fourier transform of the band-limited spatial ramp of
// Kak and Slaney (eq. 3.61): h(0) = 1/(4τ²), h(n) = -1/(nπτ)² for odd n, 0
// for even n, times τ for the convolution integral. Taking the kernel in the
// spatial domain rather than |f| sampled in frequency keeps the DC term right,
// so uniform objects reconstruct without an offset.
func NewRampFilter(cols int, tau float64, win Window, cutoff, pad float64) (*RampFilter, error) {
	switch {
	case cols < 2:
		return nil, fmt.Errorf("ramp filter: %d columns, need at least 2", cols)
	case !(tau > 0) || !finite(tau):
		return nil, fmt.Errorf("ramp filter: sample spacing %g mm must be positive", tau)
	case !(cutoff > 0 && cutoff <= 1):
		return nil, fmt.Errorf("ramp filter: cut-off %g must be in (0, 1]", cutoff)
	case pad < 2 || !finite(pad):
		return nil, fmt.Errorf("ramp filter: padding factor %g must be at least 2", pad)
	case int(win) >= len(windowNames) || win < 0:
		return nil, fmt.Errorf("ramp filter: unknown window %d", win)
	}
	n := 1
	for float64(n) < pad*float64(cols) {
		n *= 2
	}
	re, im := make([]float64, n), make([]float64, n)
	re[0] = 1 / (4 * tau * tau)
	for k := 1; k < n/2; k += 2 {
		v := -1 / (float64(k) * math.Pi * tau * float64(k) * math.Pi * tau)
		re[k], re[n-k] = v, v
	}
	f := newFFT(n)
	f.transform(re, im, false)
	resp := make([]float64, n)
	for k := range resp {
		freq := float64(min(k, n-k)) / float64(n/2)
		if freq <= cutoff {
			// τ for the convolution sum, 1/n for the unnormalised inverse.
			resp[k] = re[k] * win.gain(freq/cutoff) * tau / float64(n)
		}
	}
	return &RampFilter{response: resp, fft: f, re: make([]float64, n), im: make([]float64, n)}, nil
}

// Clone returns a filter with the same response and its own work buffers.
func (f *RampFilter) Clone() *RampFilter {
	n := len(f.response)
	return &RampFilter{response: f.response, fft: f.fft, re: make([]float64, n), im: make([]float64, n)}
}

// PaddedLength returns the FFT length.
func (f *RampFilter) PaddedLength() int { return len(f.response) }

// Response returns the filter's frequency response at k/n cycles per
// sample, k = 0..n-1, including the τ/n scale.
func (f *RampFilter) Response() []float64 { return f.response }

// FilterRows filters every row of the row-major image p of width cols in
// place. Rows go through the FFT in pairs, one as the real and one as the
// imaginary part: the response is real and even, so the two never mix.
func (f *RampFilter) FilterRows(p []float32, cols int) {
	rows := len(p) / cols
	for r := 0; r < rows; r += 2 {
		a := p[r*cols : (r+1)*cols]
		var b []float32
		if r+1 < rows {
			b = p[(r+1)*cols : (r+2)*cols]
		}
		load(f.re, a)
		load(f.im, b)
		f.fft.transform(f.re, f.im, false)
		for k, h := range f.response {
			f.re[k] *= h
			f.im[k] *= h
		}
		f.fft.transform(f.re, f.im, true)
		store(a, f.re)
		store(b, f.im)
	}
}

// load copies src into dst and zeroes the padding after it.
func load(dst []float64, src []float32) {
	for i, v := range src {
		dst[i] = float64(v)
	}
	clear(dst[len(src):])
}

func store(dst []float32, src []float64) {
	for i := range dst {
		dst[i] = float32(src[i])
	}
}
