package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/progress"
	"github.com/ctrecon/ctrecon/material"
	"github.com/ctrecon/ctrecon/pacs"
	"github.com/ctrecon/ctrecon/recon"
)

// registerReconFlags registers the volume, filter and device flags that
// recon, submit and demo share; setJob reads them into the job's fields
// (jobFlags).
func registerReconFlags(fs *flag.FlagSet) {
	fs.String("dim", "0", "volume size NX,NY,NZ in voxels (or one number for all); 0: enough to cover the field of view")
	fs.String("voxel", "0", "voxel size X,Y,Z in mm (or one number); 0: chosen to cover the field of view")
	fs.String("offset", "0,0,0", "region-of-interest centre X,Y,Z in mm from the isocentre")
	fs.String("filter", "", "ramp filter window: ram-lak, shepp-logan, cosine, hamming, hann (default ram-lak; for --materials and calibrate, without --filter and --cutoff: hann cut at the voxels' band)")
	fs.Float64("cutoff", 0, "filter cut-off as a fraction of the Nyquist frequency, in (0, 1] (default 1; see --filter)")
	fs.Float64("pad", 2, "zero-padded row length as a multiple of the detector width, at least 2")
	fs.String("device", "auto", "back-projection device: auto, cpu or cuda")
	fs.Int("threads", 0, "CPU threads (0: all cores, or a worker's --threads)")
	fs.Int("batch", 16, "views back-projected per pass over the volume")
	fs.Bool("keep-outside-fov", false, "keep voxels some view does not see instead of zeroing them")
	fs.String("max-memory", "", "bound on what the job holds, e.g. 1GiB: a larger volume is reconstructed in z-slabs, each written as it finishes")
}

// setDefault changes the default of fs's flag name to value.
func setDefault(fs *flag.FlagSet, name, value string) {
	f := fs.Lookup(name)
	f.DefValue = value
	f.Value.Set(value)
}

// registerMaterialFlags registers the material decomposition's flags,
// which recon, calibrate and submit share.
func registerMaterialFlags(fs *flag.FlagSet) {
	fs.Var(new(materialsFlag), "materials", "spectral scans: decompose into these materials, water among them, e.g. water,lipid,ha,iodine,gadolinium (a DICOM series each and materials.png)")
	fs.String("calibration", "", "spectral scans: material calibration file from 'ctrecon calibrate' (default: computed from the spectrum)")
	fs.Float64("material-smooth", 0, "spectral scans: Gaussian sigma in mm applied to the bins before the decomposition (0: none)")
	fs.Bool("material-voxelwise", false, "spectral scans: decompose every voxel from its own bins alone, without the local prior along water, lipid and mineral (whose maps' means are then biased in noisy scans)")
}

// materialsFlag is --materials' value: a given list must name a
// material, since an empty one would silently skip the decomposition.
type materialsFlag string

func (m *materialsFlag) String() string { return string(*m) }

func (m *materialsFlag) Set(v string) error {
	if len(nonEmpty(strings.Split(v, ","))) == 0 {
		return fmt.Errorf("an empty list: name the materials, such as water,lipid,iodine (known: %s), or leave --materials out for none", material.KnownNames())
	}
	*m = materialsFlag(v)
	return nil
}

func runRecon(args []string) error { return reconCommand("recon", args, nil) }

// runCalibrate reconstructs a calibration scan and fits the material
// calibration to its vials (recon.Job.MakeCalibration).
func runCalibrate(args []string) error {
	return reconCommand("calibrate", args, func(j *recon.Job) { j.MakeCalibration = true })
}

// reconCommand runs recon, or calibrate with edit setting the job's
// calibration field, on the command line's job.
func reconCommand(name string, args []string, edit func(*recon.Job)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	in := fs.String("i", "", "input: a spectral scan folder (scan.json) or a plastimatch projection folder")
	out := fs.String("o", "", "output: a folder for a spectral scan (DICOM series, previews, report.json), a .mha file for a plastimatch folder")
	fs.String("png", "", "plastimatch folders: also write the three central slices to this PNG")
	fs.String("bins", "", "spectral scans: energy bins to reconstruct, e.g. 0,2 (default all)")
	fs.Bool("mha", false, "spectral scans: also write each bin's attenuation (1/mm) and each material map as MetaImage volumes (volume_binN.mha, material_NAME.mha)")
	fs.String("pacs", "", "spectral scans: DICOMweb root to upload the series to (STOW-RS)")
	fs.Duration("pacs-timeout", 0, fmt.Sprintf("--pacs: time the upload may spend retrying transient failures, in all (0: %v)", pacs.DefaultRetryBudget))
	fs.String("water-roi", "", "spectral scans: X,Y,Z,R sphere (mm) in which to measure water instead of using scan.json's calibration")
	fs.String("id", "", "spectral scans: job ID, from which the DICOM UIDs are derived (default: one derived from the parameters)")
	registerReconFlags(fs)
	registerMaterialFlags(fs)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return fmt.Errorf("-i DIR and -o OUT are required")
	}
	var job recon.Job
	if edit != nil {
		edit(&job)
	}
	set, err := setJob(fs, &job, false)
	if err != nil {
		return err
	}
	bp, release, err := openDevice(job.Device, job.Threads)
	if err != nil {
		return err
	}
	defer release()
	ctx, stop := signalContext()
	defer stop()
	rep, err := recon.Run(ctx, job, recon.Options{Backprojector: bp, Progress: progressBar()})
	if err == nil || rep != nil && len(rep.Bins) > 0 { // a failed upload: the series are on disk
		printReport(rep)
	}
	return set.name(err)
}

// openDevice opens the back-projector --device names (recon.OpenDevice),
// its error naming the flag.
func openDevice(device string, threads int) (fdk.Backprojector, func(), error) {
	bp, release, err := recon.OpenDevice(device, threads)
	if err != nil {
		return nil, nil, fmt.Errorf("--device %s: %w", device, err)
	}
	return bp, release, nil
}

// progressBar returns a recon.Options.Progress that shows each stage's
// progress on stderr: views reconstructed, instances uploaded.
func progressBar() func(stage string, done, total int) {
	var bar *progress.Bar
	var current string
	return func(stage string, done, total int) {
		if bar == nil || stage != current {
			unit := map[string]string{"upload": "instances"}[stage]
			if unit == "" {
				unit = "views"
			}
			bar, current = console.New(stage, unit, total), stage
		}
		bar.Set(done)
	}
}

// printReport writes what a run made: the summary line and, for a spectral
// scan, the study, each bin's series, the montage and the upload.
func printReport(rep *recon.Report) {
	fmt.Println(rep.Summary())
	if n := len(rep.Slabs); n > 0 {
		fmt.Printf("  in %d z-slabs within --max-memory, each written as it finished\n", n)
	}
	if rep.StudyInstanceUID != "" {
		fmt.Printf("  study %s\n", rep.StudyInstanceUID)
	}
	for _, b := range rep.Bins {
		preview := "" // none for a volume reconstructed in slabs
		if b.Preview != "" {
			preview = ", preview " + b.Preview
		}
		fmt.Printf("  bin %d (%g-%g keV): %d slices in %s, water %.5f/mm from %s%s\n", b.Index, b.LowKeV, b.HighKeV, b.Files, b.Dir, b.MuWater, b.MuWaterFrom, preview)
	}
	if rep.Montage != "" {
		fmt.Printf("  montage of every bin's central slice in one window: %s\n", rep.Montage)
	}
	if m := rep.Materials; m != nil {
		fmt.Printf("  materials (calibration %s: %s; decomposition condition number %.3g):\n", m.Calibration, m.Source, m.ConditionNumber)
		for _, mr := range m.Maps {
			unit := mr.Unit
			if unit == material.VolumeFraction {
				unit = "% of volume" // as the DICOM map stores it
			}
			noise := ""
			if mr.NoiseSD > 0 {
				noise = fmt.Sprintf(", noise %.2g %s per voxel (in-plane spread %.2g)", mr.NoiseSD, unit, mr.SpreadSD)
			}
			fmt.Printf("    %s (%s): %d slices in %s%s\n", mr.Material, unit, len(mr.Instances), mr.Dir, noise)
		}
		fmt.Printf("    overlay: %s\n", m.Overlay)
	}
	if c := rep.Calibration; c != nil {
		printCalibration(c)
	}
	if rep.PACS != nil {
		fmt.Printf("  PACS %s: %d stored, %d failed\n", rep.PACS.URL, rep.PACS.Stored, rep.PACS.Failed)
	}
}

// printCalibration writes the fit a calibrate job made: the file, the
// vials and materials, the fit's condition number and residuals per bin,
// and each material's bias from the fit's own error.
func printCalibration(c *recon.CalibrationReport) {
	fmt.Printf("  material calibration: %s\n", c.File)
	fmt.Printf("    fit over %d vials, condition number %.3g (limit %g)\n", c.Vials, c.ConditionNumber, material.MaxFitCondition)
	for i, b := range c.Bins {
		fmt.Printf("    bin %v: residual RMS %.3g /mm\n", b, c.ResidualRMSPerMM[i])
	}
	fmt.Printf("    materials calibrated: %s\n", strings.Join(c.Materials, ", "))
	if len(c.Missing) > 0 {
		fmt.Printf("    no vials of: %s (not calibrated)\n", strings.Join(c.Missing, ", "))
	}
	if c.BiasUnassessed != "" {
		fmt.Printf("    bias in a voxel of water or lipid not assessed: %s\n", c.BiasUnassessed)
	}
	if len(c.Bias) > 0 {
		fmt.Println("    bias the fit's own error puts into every job's maps, in a voxel of water or lipid (1 SD):")
	}
	for _, m := range c.Bias {
		fmt.Printf("      %s: %.3g %s\n", m.Material, m.BiasSD, m.Unit)
	}
}
