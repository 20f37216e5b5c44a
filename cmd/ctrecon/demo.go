package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/preview"
)

func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	out := fs.String("o", "out/demo", "output folder for the volume and the PNG")
	var s scanFlags
	var r reconFlags
	s.register(fs)
	r.register(fs)
	fs.Lookup("views").DefValue, s.views = "180", 180
	fs.Lookup("det").DefValue, s.det = "128x128", "128x128"
	fs.Lookup("pitch").DefValue, s.pitch = "4", 4
	fs.Lookup("scale").DefValue, s.scale = "116", 116
	fs.Lookup("dim").DefValue, r.dim = "128", "128"
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	start := time.Now()
	g, ph, projs, err := s.simulate()
	if err != nil {
		return err
	}
	fmt.Printf("simulated %d exact %s projections of %dx%d in %.2f s\n", len(projs), s.phantom, g.Cols, g.Rows, time.Since(start).Seconds())
	vol, sum, err := r.run(g, func(v int) ([]float32, error) { return projs[v], nil })
	if err != nil {
		return err
	}
	grid := vol.Grid
	fmt.Println(sum)
	truth := fdk.NewVolume(grid)
	ph.Sample(truth, 1)
	mae, rmse, peak := errors3(vol, truth)
	fmt.Printf("accuracy against the exact phantom: mean |error| %.4f, RMSE %.4f, PSNR %.2f dB (peak %.2f)\n",
		mae, rmse, 20*math.Log10(peak/rmse), peak)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := metaimage.Write(filepath.Join(*out, "recon.mha"), vol); err != nil {
		return err
	}
	lo, hi := 0.0, peak
	if s.phantom == "shepp-logan" {
		lo, hi = 0.98*s.mu, 1.06*s.mu // the brain's soft-tissue contrasts
	}
	png := filepath.Join(*out, "recon.png")
	if err := preview.WritePNG(png, preview.Render(preview.Volume{Volume: vol, Title: s.phantom + " phantom"}, preview.Window{Lo: lo, Hi: hi})); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(*out, "recon.mha"), png)
	return nil
}

// errors3 returns the mean absolute error, the RMSE and the truth's peak.
func errors3(vol, truth *fdk.Volume) (mae, rmse, peak float64) {
	for i, v := range vol.Data {
		d := float64(v) - float64(truth.Data[i])
		mae += math.Abs(d)
		rmse += d * d
		peak = math.Max(peak, float64(truth.Data[i]))
	}
	n := float64(len(vol.Data))
	return mae / n, math.Sqrt(rmse / n), peak
}
