package fdk

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/dsp/fourier"
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
	n        int       // padded length
	response []float64 // real frequency response, n/2+1 values
	fft      *fourier.FFT
	buf      []float64
	coef     []complex128
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
	kernel := make([]float64, n)
	kernel[0] = 1 / (4 * tau * tau)
	for k := 1; k < n/2; k += 2 {
		v := -1 / (float64(k) * math.Pi * tau * float64(k) * math.Pi * tau)
		kernel[k], kernel[n-k] = v, v
	}
	fft := fourier.NewFFT(n)
	spec := fft.Coefficients(nil, kernel)
	resp := make([]float64, len(spec))
	for k, c := range spec {
		f := float64(k) / float64(n/2)
		if f <= cutoff {
			// τ for the convolution sum, 1/n for gonum's unnormalised inverse.
			resp[k] = real(c) * win.gain(f/cutoff) * tau / float64(n)
		}
	}
	return &RampFilter{n: n, response: resp, fft: fft, buf: make([]float64, n), coef: make([]complex128, n/2+1)}, nil
}

// Clone returns a filter with the same response and its own work buffers.
func (f *RampFilter) Clone() *RampFilter {
	return &RampFilter{n: f.n, response: f.response, fft: fourier.NewFFT(f.n),
		buf: make([]float64, f.n), coef: make([]complex128, f.n/2+1)}
}

// PaddedLength returns the FFT length.
func (f *RampFilter) PaddedLength() int { return f.n }

// Response returns the filter's frequency response at k/n cycles per sample,
// k = 0..n/2, including the τ/n scale.
func (f *RampFilter) Response() []float64 { return f.response }

// FilterRows filters every row of the row-major image p of width cols in
// place.
func (f *RampFilter) FilterRows(p []float32, cols int) {
	for start := 0; start+cols <= len(p); start += cols {
		row := p[start : start+cols]
		for i, v := range row {
			f.buf[i] = float64(v)
		}
		clear(f.buf[cols:])
		f.fft.Coefficients(f.coef, f.buf)
		for k := range f.coef {
			f.coef[k] *= complex(f.response[k], 0)
		}
		f.fft.Sequence(f.buf, f.coef)
		for i := range row {
			row[i] = float32(f.buf[i])
		}
	}
}
