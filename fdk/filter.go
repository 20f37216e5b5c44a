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
	x, y     []complex128 // the transform's buffers
	spare    []float32    // the zero partner of an odd image's last row
}

// NewRampFilter returns a filter for rows of cols samples spaced tau
// millimetres apart at the isocentre. pad is the zero-padded length as a
// multiple of cols (at least 2, which avoids the wrap-around of circular
// convolution); the transform's length is the smallest multiple of 4 from
// pad·cols up whose quarter has no prime factor above 5 (2500 for 1248
// columns). cutoff is the fraction of the Nyquist frequency kept, in
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
	n := fftLength(int(math.Ceil(pad * float64(cols))))
	f := newFFT(n)
	x := make([]complex128, n)
	x[0] = complex(1/(4*tau*tau), 0)
	for k := 1; k < n/2; k += 2 {
		v := complex(-1/(float64(k)*math.Pi*tau*float64(k)*math.Pi*tau), 0)
		x[k], x[n-k] = v, v
	}
	x = f.transform(x, make([]complex128, n))
	resp := make([]float64, n)
	for k := range resp {
		freq := float64(min(k, n-k)) / (float64(n) / 2)
		if freq <= cutoff {
			// τ for the convolution sum, 1/n for the unnormalised inverse.
			resp[k] = real(x[k]) * win.gain(freq/cutoff) * tau / float64(n)
		}
	}
	return newRampFilter(resp, f), nil
}

func newRampFilter(resp []float64, f *fft) *RampFilter {
	n := len(resp)
	return &RampFilter{response: resp, fft: f, x: make([]complex128, n), y: make([]complex128, n)}
}

// Clone returns a filter with the same response and its own work buffers.
func (f *RampFilter) Clone() *RampFilter { return newRampFilter(f.response, f.fft) }

// PaddedLength returns the FFT length.
func (f *RampFilter) PaddedLength() int { return len(f.response) }

// Response returns the filter's frequency response at k/n cycles per
// sample, k = 0..n-1, including the τ/n scale.
func (f *RampFilter) Response() []float64 { return f.response }

// FilterRows filters every row of the row-major image p of width cols in
// place; cols must be at most half the padded length. Rows go through the
// FFT in pairs, one as the real and one as the imaginary part (see
// fft.filterPair).
func (f *RampFilter) FilterRows(p []float32, cols int) {
	rows := len(p) / cols
	for r := 0; r < rows; r += 2 {
		a := p[r*cols : (r+1)*cols]
		var b []float32
		if r+1 < rows {
			b = p[(r+1)*cols : (r+2)*cols]
		} else {
			if len(f.spare) < cols {
				f.spare = make([]float32, cols)
			}
			b = f.spare[:cols]
			clear(b)
		}
		f.fft.filterPair(a, b, f.response, f.x, f.y)
	}
}
