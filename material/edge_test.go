package material_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/metaimage"
	"github.com/ctrecon/ctrecon/recon"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// edgeDiameter is TestAirEdge's water cylinder's diameter, mm.
const edgeDiameter = 24

// TestAirEdge decomposes a noisy scan of a water cylinder in air (the
// physics calibration, all five materials, as a job does) and checks the
// cylinder's outer 1 mm shell and the air around it. The shell's voxels
// are partly air (the edge, blurred by the filter): their bins are water's
// times the voxel's tissue fraction, which volume conservation alone
// (every voxel's fractions sum to 1) can only explain with the least
// attenuating base, lipid (it read 0.96 of lipid, 28 mg/mL of
// hydroxyapatite and 0.03 of water there, at a tissue fraction of 0.92,
// 0.95 by the voxels' geometric overlap with the cylinder; now 0.000,
// 0.12 and 0.92). The shell must read lipid under 0.1, the mineral
// under 0.5 mg/mL and iodine and gadolinium under 0.2 mg/mL in the mean,
// and water within 0.1 of the voxels' tissue fraction (their mean
// attenuation over water's, the partial volume the bins show); air 2 mm
// to 4 mm outside the cylinder, inside the field of view, reads exactly
// zero in every map (it did before too). About 10 s.
func TestAirEdge(t *testing.T) {
	spec := scansim.DefaultSpec()
	spec.ScanID, spec.Seed = "AIR-EDGE", 21
	spec.Views, spec.EnergyStep = 60, 2
	spec.OpenCounts, spec.Dtype = 400000, sinogram.Uint32
	var err error
	if spec.Phantom, err = scansim.VialPhantom(edgeDiameter, nil); err != nil {
		t.Fatal(err)
	}
	all := []string{"water", "lipid", "ha", "iodine", "gadolinium"}
	scan := simulate(t, spec)
	job := recon.Job{Materials: all, WriteMHA: true, Input: scan, Output: filepath.Join(t.TempDir(), "out"), Device: "cpu"}
	job.Volume = recon.VolumeSpec{Dim: recon.Triple[int]{64, 64, 4}, VoxelMM: recon.Triple[float64]{0.5, 0.5, 0.5}}
	job.Filter = recon.FilterSpec{Window: "hann", Cutoff: 0.25}
	if _, err := recon.Run(context.Background(), job, recon.Options{}); err != nil {
		t.Fatal(err)
	}
	maps := map[string]*fdk.Volume{}
	for _, m := range all {
		if maps[m], err = metaimage.Read(filepath.Join(job.Output, "material_"+m+".mha")); err != nil {
			t.Fatal(err)
		}
	}
	sim, err := scansim.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	sbins := sim.Scan().Bins
	vols := make([]*fdk.Volume, len(sbins))
	for b := range sbins {
		if vols[b], err = metaimage.Read(filepath.Join(job.Output, fmt.Sprintf("volume_bin%d.mha", b))); err != nil {
			t.Fatal(err)
		}
	}
	g := vols[0].Grid
	r := edgeDiameter / 2.0
	shell := map[string]float64{}
	var shellN, airN, outN int
	var tissue, geometric, outLevel, outWater float64
	for k := range g.Dim[2] {
		for j := range g.Dim[1] {
			for i := range g.Dim[0] {
				p := g.Position(i, j, k)
				rho := math.Hypot(p[0], p[1])
				idx := i + g.Dim[0]*(j+g.Dim[1]*k)
				level := 0.0
				for b, bin := range sbins {
					level += float64(vols[b].Data[idx]) / bin.MuWater / float64(len(sbins))
				}
				switch {
				case rho >= r-1 && rho <= r:
					shellN++
					tissue += level
					geometric += inCircle(p, g.Spacing, r)
					for _, m := range all {
						shell[m] += float64(maps[m].Data[idx])
					}
				case rho > r && rho <= r+1:
					outN++
					outLevel += level
					outWater += float64(maps["water"].Data[idx]) / 100
				case rho >= r+2 && rho <= r+4:
					airN++
					for _, m := range all {
						if v := maps[m].Data[idx]; v != 0 {
							t.Errorf("air at (%.1f, %.1f, %.1f) mm: %s reads %g, want 0", p[0], p[1], p[2], m, v)
						}
					}
				}
			}
		}
	}
	tissue /= float64(shellN)
	for m := range shell {
		shell[m] /= float64(shellN)
	}
	water, lipid := shell["water"]/100, shell["lipid"]/100 // the maps are in percent
	t.Logf("outer 1 mm shell (%d voxels): tissue fraction %.3f (geometric %.3f), water %.3f, lipid %.3f, ha %.2f, iodine %.3f, gadolinium %.3f mg/mL; 1 mm outside (%d voxels): tissue fraction %.3f, water %.3f; %d air voxels 2 to 4 mm outside",
		shellN, tissue, geometric/float64(shellN), water, lipid, shell["ha"], shell["iodine"], shell["gadolinium"], outN, outLevel/float64(outN), outWater/float64(outN), airN)
	if math.Abs(water-tissue) > 0.1 {
		t.Errorf("shell: water %.3f, want within 0.1 of the tissue fraction %.3f", water, tissue)
	}
	if lipid >= 0.1 {
		t.Errorf("shell: lipid %.3f, want under 0.1", lipid)
	}
	if shell["ha"] >= 0.5 {
		t.Errorf("shell: hydroxyapatite %.2f mg/mL, want under 0.5", shell["ha"])
	}
	for _, m := range []string{"iodine", "gadolinium"} {
		if shell[m] >= 0.2 {
			t.Errorf("shell: %s %.3f mg/mL, want under 0.2", m, shell[m])
		}
	}
}

// inCircle returns the fraction of the voxel at p (spacing s) inside the
// circle of radius r about the z axis, sampled on 8 × 8 points.
func inCircle(p fdk.Vec3, s [3]float64, r float64) float64 {
	in := 0
	for a := range 8 {
		for b := range 8 {
			x := p[0] + s[0]*((float64(a)+0.5)/8-0.5)
			y := p[1] + s[1]*((float64(b)+0.5)/8-0.5)
			if math.Hypot(x, y) <= r {
				in++
			}
		}
	}
	return float64(in) / 64
}
