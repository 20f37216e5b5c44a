// Package fdktest holds what the FDK tests of several packages share: RTK's
// test acquisition and volume, and RTK's image-quality measures, so that the
// CPU and GPU back-ends are held to exactly the same bar.
package fdktest

import (
	"math"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
)

// RTKGeometry is the acquisition of RTK's FDK tests (rtkfdktest.cxx): SID
// 600 mm, SDD 1200 mm, views evenly spaced over arcDegrees; the detector has
// 128 rows and cols columns of 4 mm (2 mm at the isocentre, the voxel size),
// its centre offsetU mm along the columns.
func RTKGeometry(views int, arcDegrees, offsetU float64, cols int) *fdk.Geometry {
	g := &fdk.Geometry{SID: 600, SDD: 1200, OffsetU: offsetU,
		Detector: fdk.Detector{Cols: cols, Rows: 128, PitchU: 4, PitchV: 4}}
	for i := range views {
		g.Angles = append(g.Angles, float64(i)*arcDegrees/float64(views)*math.Pi/180)
	}
	return g
}

// RTKGrid is RTK's test volume: 128³ voxels of 2 mm centred on the
// isocentre.
func RTKGrid() fdk.Grid {
	return fdk.CenteredGrid([3]int{128, 128, 128}, [3]float64{2, 2, 2}, fdk.Vec3{})
}

// Quality returns the mean absolute error and the PSNR for the given peak,
// as RTK's CheckImageQuality computes them, of vol against ph sampled at
// voxel centres.
func Quality(vol *fdk.Volume, ph phantom.Phantom, peak float64) (mae, psnr float64) {
	truth := fdk.NewVolume(vol.Grid)
	ph.Sample(truth, 1)
	var abs, sq float64
	for i, v := range vol.Data {
		d := float64(v) - float64(truth.Data[i])
		abs += math.Abs(d)
		sq += d * d
	}
	n := float64(len(vol.Data))
	return abs / n, 20 * math.Log10(peak/math.Sqrt(sq/n))
}
