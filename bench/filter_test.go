package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"gonum.org/v1/gonum/dsp/fourier"
)

// filterRows is how many detector rows one benchmark operation filters: a
// few dozen, as a goroutine of the reconstructor filters a view's rows one
// after another.
const filterRows = 64

// BenchmarkFilter times the ramp filter per detector row at RabbitCT's
// 1248 columns, the 512 of the medium problem and a few other widths:
// ctrecon's (fdk.RampFilter, two rows per complex mixed-radix FFT) and the
// same filtering done with gonum's real FFT (dsp/fourier, FFTPACK), with
// the same padded length and response. Each reports µs per row and the
// padded length; the two outputs are compared first, so both do the same
// work.
func BenchmarkFilter(b *testing.B) {
	for _, cols := range []int{1248, 512, 1000, 1024, 2048} {
		f, err := fdk.NewRampFilter(cols, 0.2, fdk.Hann, 1, 2)
		if err != nil {
			b.Fatal(err)
		}
		g := newGonumFilter(f)
		img := randomImage(cols*filterRows, rand.New(rand.NewPCG(5, 6)))
		checkSameFilter(b, f, g, img, cols)
		b.Run(fmt.Sprintf("ctrecon/cols=%d", cols), func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				f.FilterRows(img, cols)
			}
			reportPerRow(b, cpuTime()-cpu, f.PaddedLength())
		})
		b.Run(fmt.Sprintf("gonum/cols=%d", cols), func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				g.filterRows(img, cols)
			}
			reportPerRow(b, cpuTime()-cpu, f.PaddedLength())
		})
	}
}

// reportPerRow reports the wall and the CPU time per row (the process's
// CPU time over the loop: on a machine shared with other work, the
// benchmark's own time) and the padded length n.
func reportPerRow(b *testing.B, cpu time.Duration, n int) {
	rows := float64(b.N * filterRows)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/rows, "µs/row")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/rows, "cpu-µs/row")
	b.ReportMetric(float64(n), "padded")
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gonumFilter filters rows one at a time with gonum's real FFT and the
// response of an fdk.RampFilter (which includes the 1/n of the
// unnormalised inverse).
type gonumFilter struct {
	fft  *fourier.FFT
	resp []float64
	seq  []float64
	coef []complex128
}

func newGonumFilter(f *fdk.RampFilter) *gonumFilter {
	n := f.PaddedLength()
	return &gonumFilter{fft: fourier.NewFFT(n), resp: f.Response(), seq: make([]float64, n), coef: make([]complex128, n/2+1)}
}

func (g *gonumFilter) filterRows(p []float32, cols int) {
	for r := 0; r+cols <= len(p); r += cols {
		row := p[r : r+cols]
		for i, v := range row {
			g.seq[i] = float64(v)
		}
		clear(g.seq[cols:])
		g.fft.Coefficients(g.coef, g.seq)
		for k, c := range g.coef {
			g.coef[k] = complex(g.resp[k]*real(c), g.resp[k]*imag(c))
		}
		g.fft.Sequence(g.seq, g.coef)
		for i := range row {
			row[i] = float32(g.seq[i])
		}
	}
}

// checkSameFilter fails the benchmark unless f and g filter img alike, to
// float32 rounding.
func checkSameFilter(b *testing.B, f *fdk.RampFilter, g *gonumFilter, img []float32, cols int) {
	b.Helper()
	ours, theirs := append([]float32(nil), img...), append([]float32(nil), img...)
	f.FilterRows(ours, cols)
	g.filterRows(theirs, cols)
	var scale, diff float64
	for i := range ours {
		scale = max(scale, math.Abs(float64(theirs[i])))
		diff = max(diff, math.Abs(float64(ours[i]-theirs[i])))
	}
	if !(diff <= 1e-5*scale) {
		b.Fatalf("%d columns: ctrecon's filter and gonum's differ by %g (largest value %g)", cols, diff, scale)
	}
}
