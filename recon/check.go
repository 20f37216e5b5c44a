package recon

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/dicomio"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/pacs"
	"github.com/ctrecon/ctrecon/sinogram"
)

// Check reports what would make job fail on scan after the reconstruction,
// so that it fails before: a bin the scan does not have, a bin without a
// water calibration when the job gives no water region, a water region
// outside the grid, a material decomposition or calibration that cannot
// be made on the scan's bins (Job.checkMaterials), an identifier or a grid that no DICOM file can hold;
// and a png, which only a plastimatch folder's job draws. It reads nothing
// but the manifest: Submit runs it against a manifest on the bus, and
// every run against its scan before reconstructing. Errors wrap ErrJob (or
// dicomio.ErrInput) and name the field.
func Check(scan *sinogram.Scan, job Job) error {
	if job.PNG != "" {
		return errSpectralPNG
	}
	bins := job.Bins
	if len(bins) == 0 {
		for b := range scan.Bins {
			bins = append(bins, b)
		}
	}
	for i, b := range bins {
		if b >= len(scan.Bins) {
			return jobErr(fmt.Sprintf("bins[%d]", i), "bin %d does not exist: the scan has %d", b, len(scan.Bins))
		}
		if bin := scan.Bins[b]; job.WaterROI == nil && !(bin.MuWater > 0) {
			return jobErr("water_roi", "bin %d (%g-%g keV) has no water calibration in scan.json (energy_bins[%d].mu_water_per_mm): give a water region",
				b, bin.LowKeV, bin.HighKeV, b)
		}
	}
	g, err := job.Grid(&scan.Geometry)
	if err != nil {
		return err
	}
	if roi := job.WaterROI; roi != nil && !sphereHoldsVoxel(g, *roi) {
		return jobErr("water_roi", "the sphere of %g mm at %v mm holds no voxel centre of the volume", roi.RadiusMM, roi.CenterMM)
	}
	if err := job.checkMaterials(scan, bins); err != nil {
		return err
	}
	return dicomio.Check(dicomStudy(scan, &job), g, dicomOptions(scan, &job, nil))
}

// sphereHoldsVoxel reports whether a voxel centre of g lies in s: the
// voxel centre nearest to s's centre is, axis by axis, the nearest index.
func sphereHoldsVoxel(g fdk.Grid, s Sphere) bool {
	var d2 float64
	for k := range 3 {
		i := math.Round((s.CenterMM[k] - g.Origin[k]) / g.Spacing[k])
		i = max(0, min(float64(g.Dim[k]-1), i))
		d := g.Origin[k] + i*g.Spacing[k] - s.CenterMM[k]
		d2 += d * d
	}
	return d2 <= s.RadiusMM*s.RadiusMM
}

// checkOnBus checks a job for a streamed scan against the scan's manifest
// when the acquisition host has published it already; a scan that is not
// on the bus yet is checked by the worker before it reconstructs.
func checkOnBus(ctx context.Context, b *bus.Bus, job Job) error {
	if job.ScanID == "" {
		return nil
	}
	data, err := b.Manifest(ctx, job.ScanID)
	if errors.Is(err, bus.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	scan, err := sinogram.ParseManifest(data)
	if err != nil {
		return fmt.Errorf("scan %s: the manifest on the bus: %w", job.ScanID, err)
	}
	return Check(scan, job)
}

// check runs before the reconstruction what can fail after it: Check, the
// output folder (still new, empty or the job's: a streamed job may have
// waited minutes for its scan since the worker first looked; writable,
// with room for the outputs) and the PACS (it answers).
func (r *runner) check(ctx context.Context) error {
	if err := Check(r.scan, r.job); err != nil {
		return err
	}
	r.warnAliasing()
	if _, err := checkOutput(r.job.Output, r.job.ID); err != nil {
		return err
	}
	if err := checkSpace(r.dir, outputBytes(r.grid, len(r.bins)+len(r.job.Materials), r.job.WriteMHA)); err != nil {
		return err
	}
	if r.job.PACS != "" {
		return (&pacs.Client{BaseURL: r.job.PACS}).Ping(ctx)
	}
	return nil
}

// outputBytes estimates what a job writes, in bytes, on grid g for bins
// bins: per bin a DICOM file per slice (int16 pixels and a header of at
// most 4 KiB), a preview (at most 4 bytes per pixel of its three slices)
// and the float32 volume when asked; a MiB for the report.
func outputBytes(g fdk.Grid, bins int, mha bool) float64 {
	nx, ny, nz := float64(g.Dim[0]), float64(g.Dim[1]), float64(g.Dim[2])
	per := nz*(2*nx*ny+4096) + 4*(nx*ny+nx*nz+ny*nz)
	if mha {
		per += 4*nx*ny*nz + 1024
	}
	return float64(bins)*per + 1<<20
}

// checkSpace makes the folder the outputs are written in if needed and
// fails unless a file can be made in it and its file system has need bytes
// free.
func checkSpace(dir string, need float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	f, err := os.CreateTemp(dir, ".ctrecon-check-*")
	if err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	if free, ok := freeBytes(dir); ok && float64(free) < need {
		return fmt.Errorf("output folder %s: %.0f MB free, the outputs need about %.0f MB", dir, float64(free)/1e6, need/1e6)
	}
	return nil
}
