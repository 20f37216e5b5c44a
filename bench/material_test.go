package bench

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/material"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
)

// BenchmarkMaterials measures the material decomposition against the
// reconstruction of the same job: a simulated 180-view, 5-bin MARS scan of
// the calibration vial phantom, reconstructed into 256³ voxels of 0.036 mm
// (9.2 mm across: every voxel inside the field of view and the phantom,
// so that every voxel is decomposed) and decomposed into water, lipid,
// hydroxyapatite, iodine and gadolinium with the physics calibration, on
// every core. It reports the job's reconstruction stage, its
// decomposition (the beam-hardening correction's second pass, then the
// materials stage: decomposition, five DICOM series, the overlay), their
// ratio, and
// the decomposition alone (material.Decomposer.Decompose) on 256³ voxels
// of random mixtures, with the local prior a job uses by default and
// voxel by voxel (material_voxelwise).
func BenchmarkMaterials(b *testing.B) {
	dir := b.TempDir()
	spec := scansim.DefaultSpec()
	spec.Views = 180
	spec.Vials = scansim.CalibrationVials(30)
	var err error
	if spec.Phantom, err = scansim.VialPhantom(30, spec.Vials); err != nil {
		b.Fatal(err)
	}
	if err := scansim.Simulate(filepath.Join(dir, "scan"), spec); err != nil {
		b.Fatal(err)
	}
	all := []string{"water", "lipid", "ha", "iodine", "gadolinium"}
	var rec, hard, mats float64
	for i := 0; b.Loop(); i++ {
		job := recon.Job{Input: filepath.Join(dir, "scan"), Output: filepath.Join(dir, "out", time.Now().Format("150405.000000")),
			Device: "cpu", Materials: all,
			Volume: recon.VolumeSpec{Dim: recon.Triple[int]{256, 256, 256}, VoxelMM: recon.Triple[float64]{0.036, 0.036, 0.036}}}
		rep, err := recon.Run(context.Background(), job, recon.Options{})
		if err != nil {
			b.Fatal(err)
		}
		rec += rep.Seconds["reconstruct"]
		hard += rep.Seconds["beam_hardening"]
		mats += rep.Seconds["beam_hardening"] + rep.Seconds["materials"]
	}
	n := float64(b.N)
	b.ReportMetric(rec/n, "reconstruct-s")
	b.ReportMetric(hard/n, "hardening-s")
	b.ReportMetric(mats/n, "materials-s")
	b.ReportMetric(mats/rec, "materials/reconstruct")
	prior, voxelwise := decomposeSeconds(b, spec)
	b.ReportMetric(prior, "decompose-s")
	b.ReportMetric(voxelwise, "decompose-voxelwise-s")
}

// decomposeSeconds times the decomposition alone of 256³ voxels of random
// mixtures of the five materials, built from the physics calibration:
// with the default local prior (material.DefaultPriorMM), and voxel by
// voxel.
func decomposeSeconds(b *testing.B, spec scansim.Spec) (prior, voxelwise float64) {
	sim, err := scansim.New(spec)
	if err != nil {
		b.Fatal(err)
	}
	cal, err := material.Physics(sim.Scan().Tube, sim.Scan().Bins)
	if err != nil {
		b.Fatal(err)
	}
	var bins []material.Bin
	for _, bin := range cal.Bins {
		bins = append(bins, bin)
	}
	d, err := material.NewDecomposer(cal, bins, material.Known)
	if err != nil {
		b.Fatal(err)
	}
	g := fdk.CenteredGrid([3]int{256, 256, 256}, [3]float64{0.036, 0.036, 0.036}, fdk.Vec3{})
	vols := make([]*fdk.Volume, len(bins))
	for i := range vols {
		vols[i] = fdk.NewVolume(g)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for v := range g.Voxels() {
		lipid, ha, io, gd := rng.Float64(), 300*rng.Float64(), 10*rng.Float64(), 10*rng.Float64()
		amounts := []float64{(1 - lipid) * (1 - ha/3160), lipid * (1 - ha/3160), ha, io, gd}
		for bi := range bins {
			mu := 0.0
			for j, m := range cal.Materials {
				mu += amounts[j] * m.PerUnit[bi]
			}
			vols[bi].Data[v] = float32(mu * (1 + 0.02*rng.NormFloat64()))
		}
	}
	seconds := func(priorMM float64) float64 {
		d.PriorMM = priorMM
		start := time.Now()
		if _, err := d.Decompose(vols, runtime.NumCPU()); err != nil {
			b.Fatal(err)
		}
		return time.Since(start).Seconds()
	}
	return seconds(material.DefaultPriorMM), seconds(0)
}
