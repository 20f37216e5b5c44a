package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/progress"
	"github.com/ctrecon/ctrecon/kernels"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/preview"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/sinogram"
)

// reconFlags are the reconstruction flags shared by recon and demo.
type reconFlags struct {
	dim, voxel, offset string
	filter             string
	cutoff, pad        float64
	device             string
	threads, batch     int
	keepFOV            bool
}

func (r *reconFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.dim, "dim", "0", "volume size NX,NY,NZ in voxels (or one number for all); 0: enough to cover the field of view")
	fs.StringVar(&r.voxel, "voxel", "0", "voxel size X,Y,Z in mm (or one number); 0: chosen to cover the field of view")
	fs.StringVar(&r.offset, "offset", "0,0,0", "region-of-interest centre X,Y,Z in mm from the isocentre")
	fs.StringVar(&r.filter, "filter", "ram-lak", "ramp filter window: ram-lak, shepp-logan, cosine, hamming, hann")
	fs.Float64Var(&r.cutoff, "cutoff", 1, "filter cut-off as a fraction of the Nyquist frequency, in (0, 1]")
	fs.Float64Var(&r.pad, "pad", 2, "zero-padded row length as a multiple of the detector width, at least 2")
	fs.StringVar(&r.device, "device", "auto", "back-projection device: auto, cpu or cuda")
	fs.IntVar(&r.threads, "threads", 0, "CPU threads (0: all cores)")
	fs.IntVar(&r.batch, "batch", 16, "views back-projected per pass over the volume")
	fs.BoolVar(&r.keepFOV, "keep-outside-fov", false, "keep voxels some view does not see instead of zeroing them")
}

// grid returns the volume grid for geometry g.
func (r *reconFlags) grid(g *fdk.Geometry) (fdk.Grid, error) {
	dim, err := dims3(r.dim)
	if err != nil {
		return fdk.Grid{}, fmt.Errorf("--dim: %w", err)
	}
	vox, err := floatList(r.voxel, 3)
	if err != nil {
		return fdk.Grid{}, fmt.Errorf("--voxel: %w", err)
	}
	off, err := floatList(r.offset, 3)
	if err != nil {
		return fdk.Grid{}, fmt.Errorf("--offset: %w", err)
	}
	return fdk.NewGrid(g, dim, [3]float64(vox), fdk.Vec3(off))
}

// options returns the reconstruction options and a function that releases
// the device, to call when the reconstruction is done.
func (r *reconFlags) options() (fdk.Options, func(), error) {
	win, err := fdk.ParseWindow(r.filter)
	if err != nil {
		return fdk.Options{}, nil, fmt.Errorf("--filter: %w", err)
	}
	bp, release, err := backprojector(r.device, r.threads)
	if err != nil {
		return fdk.Options{}, nil, err
	}
	return fdk.Options{Window: win, Cutoff: r.cutoff, Padding: r.pad, Backprojector: bp,
		Threads: r.threads, Batch: r.batch, KeepOutsideFOV: r.keepFOV}, release, nil
}

// backprojector picks the device: cuda must open the GPU, auto uses it when
// the driver and a device are there and says why it fell back otherwise.
func backprojector(device string, threads int) (fdk.Backprojector, func(), error) {
	cpu := fdk.CPU{Threads: threads}
	switch device {
	case "cpu":
		return cpu, func() {}, nil
	case "auto", "cuda":
		gpu, err := kernels.Open(kernels.Options{})
		if err == nil {
			return gpu, func() { gpu.Close() }, nil
		}
		if device == "cuda" {
			return nil, nil, fmt.Errorf("--device cuda: %w", err)
		}
		slog.Info("using the CPU", "reason", err.Error())
		return cpu, func() {}, nil
	}
	return nil, nil, fmt.Errorf("--device %q: want auto, cpu or cuda", device)
}

// summary is what a reconstruction reports.
type summary struct {
	grid    fdk.Grid
	views   int
	det     fdk.Detector
	device  string
	total   time.Duration
	timings fdk.Timings
}

// GUPS is voxel updates per second of back-projection, in billions.
func (s summary) GUPS() float64 {
	return float64(s.grid.Voxels()) * float64(s.views) / s.timings.Backproject.Seconds() / 1e9
}

func (s summary) String() string {
	return fmt.Sprintf("reconstructed %v from %d views of %dx%d in %.2f s (filter %.2f s, back-projection %.2f s = %.3f GUPS) on %s",
		s.grid, s.views, s.det.Cols, s.det.Rows, s.total.Seconds(), s.timings.Filter.Seconds(),
		s.timings.Backproject.Seconds(), s.GUPS(), s.device)
}

// run reconstructs the views read returns, on the flags' grid and device.
func (r *reconFlags) run(g *fdk.Geometry, read func(v int) ([]float32, error)) (*fdk.Volume, summary, error) {
	grid, err := r.grid(g)
	if err != nil {
		return nil, summary{}, err
	}
	opts, release, err := r.options()
	if err != nil {
		return nil, summary{}, err
	}
	defer release()
	return reconstruct(g, grid, read, opts)
}

// reconstruct runs FDK with a progress bar on stderr on the views that
// read returns. A goroutine reads ahead, so reading the next views overlaps
// filtering and back-projecting the last ones.
func reconstruct(g *fdk.Geometry, grid fdk.Grid, read func(v int) ([]float32, error), opts fdk.Options) (*fdk.Volume, summary, error) {
	start := time.Now()
	n := g.NumViews()
	bar := progress.New(os.Stderr, "recon", "views", n)
	opts.Progress = func(done, _ int) { bar.Set(done) }
	rec, err := fdk.New(g, grid, 1, opts)
	if err != nil {
		return nil, summary{}, err
	}
	defer rec.Abort() // a failure part-way gives a GPU's memory back
	if rep := rec.CheckFOV(); !rep.Fits() {
		slog.Warn("field of view", "report", rep.String())
	}
	info, warnings := rec.Weights().Notes()
	for _, m := range info {
		slog.Info(m)
	}
	for _, m := range warnings {
		slog.Warn(m)
	}
	type view struct {
		img []float32
		err error
	}
	views := make(chan view, 2*opts.Batch+1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for v := range n {
			img, err := read(v)
			select {
			case views <- view{img, err}:
			case <-stop:
				return
			}
		}
	}()
	for v := range n {
		in := <-views
		if in.err != nil {
			return nil, summary{}, in.err
		}
		if err := rec.Add(v, [][]float32{in.img}); err != nil {
			return nil, summary{}, err
		}
	}
	vols, err := rec.Finish()
	if err != nil {
		return nil, summary{}, err
	}
	s := summary{grid: grid, views: n, det: g.Detector, device: opts.Backprojector.Name(),
		total: time.Since(start), timings: rec.Timings()}
	return vols[0], s, nil
}

func runRecon(args []string) error {
	fs := flag.NewFlagSet("recon", flag.ContinueOnError)
	in := fs.String("i", "", "input: a spectral scan folder (scan.json) or a plastimatch projection folder")
	out := fs.String("o", "", "output: a folder for a spectral scan (DICOM series, previews, report.json), a .mha file for a plastimatch folder")
	png := fs.String("png", "", "plastimatch folders: also write the three central slices to this PNG")
	fs.String("bins", "", "spectral scans: energy bins to reconstruct, e.g. 0,2 (default all)")
	fs.String("pacs", "", "spectral scans: DICOMweb root to upload the series to (STOW-RS)")
	fs.String("water-roi", "", "spectral scans: X,Y,Z,R sphere (mm) in which to measure water instead of using scan.json's calibration")
	fs.String("id", "", "spectral scans: job ID, from which the DICOM UIDs are derived (default: one derived from the parameters)")
	var r reconFlags
	r.register(fs)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return fmt.Errorf("-i DIR and -o OUT are required")
	}
	var job recon.Job // of a spectral scan; for a plastimatch folder, its checks name the flags
	set, err := setJob(fs, &job, false)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*in, sinogram.ManifestName)); err == nil {
		return runSpectral(job, set, r.threads)
	}
	return runPlastimatch(*in, *out, *png, &r)
}

// runPlastimatch reconstructs a single-bin plastimatch folder into a .mha.
func runPlastimatch(in, out, png string, r *reconFlags) error {
	folder, err := sinogram.OpenPlastimatch(in)
	if err != nil {
		return err
	}
	vol, sum, err := r.run(&folder.Geometry, folder.Projection)
	if err != nil {
		return err
	}
	if err := metaimage.Write(out, vol); err != nil {
		return err
	}
	if png != "" {
		if err := preview.WritePNG(png, preview.Render(preview.Volume{Volume: vol}, preview.Window{})); err != nil {
			return err
		}
	}
	fmt.Println(sum)
	return nil
}
