package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
)

// BenchmarkDICOMWrite measures slices written per second for one energy
// bin's series: int16 conversion with rescale, encoding and the files.
func BenchmarkDICOMWrite(b *testing.B) {
	for _, n := range []int{256, 512} {
		b.Run(fmt.Sprintf("%d^3", n), func(b *testing.B) {
			grid := fdk.CenteredGrid([3]int{n, n, n}, [3]float64{0.1, 0.1, 0.1}, fdk.Vec3{})
			vol := fdk.NewVolume(grid)
			for i := range vol.Data {
				vol.Data[i] = 0.02 * float32(i%1000) / 500
			}
			st := dicomio.Study{PatientName: "Bench", PatientID: "B1", StudyInstanceUID: dicomio.NewUID(), FrameOfReferenceUID: dicomio.NewUID()}
			var elapsed time.Duration
			for b.Loop() {
				dir := b.TempDir()
				start := time.Now()
				if _, err := dicomio.WriteSeries(dir, st, dicomio.Bin{Index: 0, LowKeV: 15, HighKeV: 35, MuWater: 0.02}, vol, dicomio.Options{}); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "slices/s")
			b.ReportMetric(float64(n*n*n*2*b.N)/elapsed.Seconds()/1e6, "MB/s")
		})
	}
}
