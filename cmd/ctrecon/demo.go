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
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/sinogram"
)

// runDemo simulates a phantom's scan into a projection folder, reconstructs
// it with recon.Run as recon does, and compares the volume with the
// phantom.
func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	out := fs.String("o", "out/demo", "output folder for the volume and the PNG")
	var s scanFlags
	s.register(fs)
	registerReconFlags(fs)
	for name, value := range map[string]string{"views": "180", "det": "128x128", "pitch": "4", "scale": "116", "dim": "128"} {
		setDefault(fs, name, value)
	}
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	start := time.Now()
	g, ph, projs, err := s.simulate()
	if err != nil {
		return err
	}
	projections, err := os.MkdirTemp("", "ctrecon-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(projections)
	if err := sinogram.WritePlastimatch(projections, "img", &sinogram.Set{Geometry: *g, Projections: projs}); err != nil {
		return err
	}
	fmt.Printf("simulated %d exact %s projections of %dx%d in %.2f s\n", len(projs), s.phantom, g.Cols, g.Rows, time.Since(start).Seconds())
	job := recon.Job{Input: projections}
	set, err := setJob(fs, &job, false) // -o is the folder the volume goes in
	if err != nil {
		return err
	}
	job.Output = filepath.Join(*out, "recon.mha")
	bp, release, err := openDevice(job.Device, job.Threads)
	if err != nil {
		return err
	}
	defer release()
	ctx, stop := signalContext()
	defer stop()
	rep, err := recon.Run(ctx, job, recon.Options{Backprojector: bp, Progress: progressBar()})
	if err != nil {
		return set.name(err)
	}
	fmt.Println(rep.Summary())
	vol, err := metaimage.Read(job.Output)
	if err != nil {
		return err
	}
	truth := fdk.NewVolume(vol.Grid)
	ph.Sample(truth, 1)
	mae, rmse, peak := errors3(vol, truth)
	fmt.Printf("accuracy against the exact phantom: mean |error| %.4f, RMSE %.4f, PSNR %.2f dB (peak %.2f)\n",
		mae, rmse, 20*math.Log10(peak/rmse), peak)
	lo, hi := 0.0, peak
	if s.phantom == "shepp-logan" {
		lo, hi = 0.98*s.mu, 1.06*s.mu // the brain's soft-tissue contrasts
	}
	png := filepath.Join(*out, "recon.png")
	if err := preview.WritePNG(png, preview.Render(preview.Volume{Volume: vol, Title: s.phantom + " phantom"}, preview.Window{Lo: lo, Hi: hi})); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", job.Output, png)
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
