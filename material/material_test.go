package material

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/scansim"
	"github.com/ctrecon/ctrecon/sinogram"
)

// defaultBins are the default simulated scan's tube and bins.
func defaultBins(t *testing.T) (sinogram.Tube, []sinogram.EnergyBin, []Bin) {
	t.Helper()
	sim, err := scansim.New(scansim.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	sc := sim.Scan()
	var bins []Bin
	for _, b := range sc.Bins {
		bins = append(bins, Bin{b.LowKeV, b.HighKeV})
	}
	return sc.Tube, sc.Bins, bins
}

// TestNNLS compares the solver with an exhaustive search on random
// problems: the non-negative least-squares solution is the unconstrained
// solution on some subset of columns that is non-negative there and whose
// residual is smallest of all such; the solver's residual must match it.
func TestNNLS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		rows, cols := 2+rng.IntN(maxRows-1), 1+rng.IntN(maxCols)
		cols = min(cols, rows)
		var a [maxRows][maxCols]float64
		for j := range cols {
			n := 0.0
			for r := range rows {
				a[r][j] = rng.NormFloat64()
				n += a[r][j] * a[r][j]
			}
			for r := range rows {
				a[r][j] /= math.Sqrt(n)
			}
		}
		s := newNNLS(a, rows, cols)
		var b [maxRows]float64
		for r := range rows {
			b[r] = rng.NormFloat64()
		}
		var x [maxCols]float64
		s.solve(&b, &x)
		// Started from any passive set (solveFrom), the solve ends at
		// the same solution; from the solution's own, at the same bits.
		for hint := range uint(1) << cols {
			var xh [maxCols]float64
			s.solveFrom(&b, &xh, hint)
			for j := range cols {
				if math.Abs(xh[j]-x[j]) > 1e-9 {
					t.Fatalf("trial %d: started from passive set %b the solution is %v, from none %v", trial, hint, xh[:cols], x[:cols])
				}
			}
		}
		var passive uint
		for j := range cols {
			if x[j] > 0 {
				passive |= 1 << j
			}
		}
		if xh := x; s.solveFrom(&b, &xh, passive) != passive || xh != x {
			t.Fatalf("trial %d: started from its own passive set %b the solution is %v, want %v", trial, passive, xh[:cols], x[:cols])
		}
		best := math.Inf(1)
		for mask := range 1 << cols {
			var z [maxCols]float64
			var atb [maxCols]float64
			for j := range cols {
				for r := range rows {
					atb[j] += a[r][j] * b[r]
				}
			}
			s.passiveSolve(uint(mask), &atb, &z)
			if slicesMin(z[:cols]) >= -1e-12 {
				best = min(best, residual(a, b, z, rows, cols))
			}
		}
		if slicesMin(x[:cols]) < 0 {
			t.Fatalf("trial %d: negative solution %v", trial, x[:cols])
		}
		if got := residual(a, b, x, rows, cols); got > best+1e-9 {
			t.Fatalf("trial %d (%dx%d): residual %g, the best feasible subset gives %g", trial, rows, cols, got, best)
		}
	}
}

// TestNNLSPenalty checks the solver regularised toward a prior along a
// direction (nnls.withPenalty, as Decompose uses it) the same way: its
// objective ½xᵀGx − xᵀ(Aᵀb + P p), G the normal matrix plus P, must be
// the smallest over the unconstrained solutions on every subset of
// columns that are non-negative there.
func TestNNLSPenalty(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 300 {
		a, v, rows, cols := randomSystem(rng)
		var b [maxRows]float64
		for r := range rows {
			b[r] = rng.NormFloat64()
		}
		prob := newPenalised(a, b, rows, cols, v, rng.Float64(), 3*rng.NormFloat64())
		s := newNNLS(a, rows, cols).withPenalty(&prob.penalty)
		var x [maxCols]float64
		s.solveNormal(&prob.atb, &x)
		best := math.Inf(1)
		for mask := 1; mask < 1<<cols; mask++ {
			z, ok := subsetSolve(prob, uint(mask), nil, 0)
			if !ok {
				t.Fatalf("trial %d: subset %b's normal matrix is singular", trial, mask)
			}
			if slicesMin(z[:cols]) >= -1e-12 {
				best = min(best, prob.objective(z))
			}
		}
		best = min(best, 0) // x = 0
		if slicesMin(x[:cols]) < 0 {
			t.Fatalf("trial %d: negative solution %v", trial, x[:cols])
		}
		if got := prob.objective(x); got > best+1e-9*max(1, math.Abs(best)) {
			t.Fatalf("trial %d (%dx%d): objective %g, the best feasible subset gives %g", trial, rows, cols, got, best)
		}
	}
}

// randomSystem returns a random system matrix a of rows × cols (as many
// columns as rows at most) and a random direction v.
func randomSystem(rng *rand.Rand) (a [maxRows][maxCols]float64, v [maxCols]float64, rows, cols int) {
	rows, cols = 2+rng.IntN(maxRows-1), 1+rng.IntN(maxCols)
	cols = min(cols, rows)
	for j := range cols {
		for r := range rows {
			a[r][j] = rng.NormFloat64()
		}
		v[j] = rng.NormFloat64()
	}
	return a, v, rows, cols
}

// penalised is a least-squares problem regularised toward a prior along
// a direction, built here independently of the solver: the objective
// ½xᵀGx − xᵀatb with G = AᵀA + P and atb = Aᵀb + P p, P = weight·v vᵀ
// the penalty and p a point whose coordinate along v is prior.
type penalised struct {
	cols    int
	penalty [maxCols][maxCols]float64
	g       [maxCols][maxCols]float64
	atb     [maxCols]float64
}

func newPenalised(a [maxRows][maxCols]float64, b [maxRows]float64, rows, cols int, v [maxCols]float64, weight, prior float64) *penalised {
	p := &penalised{cols: cols}
	for i := range cols {
		p.atb[i] = weight * prior * v[i]
		for r := range rows {
			p.atb[i] += a[r][i] * b[r]
		}
		for j := range cols {
			p.penalty[i][j] = weight * v[i] * v[j]
			p.g[i][j] = p.penalty[i][j]
			for r := range rows {
				p.g[i][j] += a[r][i] * a[r][j]
			}
		}
	}
	return p
}

func (p *penalised) objective(x [maxCols]float64) float64 {
	f := 0.0
	for i := range p.cols {
		for j := range p.cols {
			f += 0.5 * x[i] * p.g[i][j] * x[j]
		}
		f -= x[i] * p.atb[i]
	}
	return f
}

// subsetSolve returns the minimiser of p's objective on the columns in
// mask (zero elsewhere), solved by gonum: unconstrained where row is
// nil, else with row·z = rhs, from the Lagrange system
// [G_P row_P; row_Pᵀ 0]; and whether that system is not singular.
func subsetSolve(p *penalised, mask uint, row *[maxCols]float64, rhs float64) ([maxCols]float64, bool) {
	var idx []int
	for j := range p.cols {
		if mask&(1<<j) != 0 {
			idx = append(idx, j)
		}
	}
	n := len(idx)
	size := n
	if row != nil {
		size++
	}
	k, f := mat.NewDense(size, size, nil), mat.NewVecDense(size, nil)
	for i, a := range idx {
		for j, b := range idx {
			k.Set(i, j, p.g[a][b])
		}
		f.SetVec(i, p.atb[a])
		if row != nil {
			k.Set(i, n, row[a])
			k.Set(n, i, row[a])
		}
	}
	if row != nil {
		f.SetVec(n, rhs)
	}
	var sol mat.VecDense
	var z [maxCols]float64
	if err := sol.SolveVec(k, f); err != nil {
		return z, false
	}
	for i, a := range idx {
		z[a] = sol.AtVec(i)
	}
	return z, true
}

func slicesMin(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func residual(a [maxRows][maxCols]float64, b [maxRows]float64, x [maxCols]float64, rows, cols int) float64 {
	ss := 0.0
	for r := range rows {
		d := b[r]
		for j := range cols {
			d -= a[r][j] * x[j]
		}
		ss += d * d
	}
	return ss
}

// physicsDecomposer returns the physics calibration of the default
// simulated scan's bins and its decomposer into all five materials.
func physicsDecomposer(t *testing.T) (*Calibration, []Bin, *Decomposer) {
	t.Helper()
	tube, sbins, bins := defaultBins(t)
	cal, err := Physics(tube, sbins)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecomposer(cal, bins, Known)
	if err != nil {
		t.Fatal(err)
	}
	return cal, bins, d
}

// TestDecomposeExact builds voxels of known mixtures from the physics
// calibration's own attenuations (the model exactly) and checks that the
// decomposition gives the amounts back, air gives zeros, and every
// material's map is in its unit.
func TestDecomposeExact(t *testing.T) {
	cal, bins, d := physicsDecomposer(t)
	mats := d.Materials
	mix := [][]float64{ // water, lipid, ha, iodine, gadolinium
		{1, 0, 0, 0, 0}, {0, 1, 0, 0, 0}, {0.3, 0.7, 0, 0, 0},
		{1 - 300.0/3160, 0, 300, 0, 0}, {1 - 5.0/4930, 0, 0, 5, 0}, {1 - 8.0/7895, 0, 0, 0, 8},
		{0, 0, 0, 0, 0}, // air
	}
	vols := mixtureVolumes(cal, bins, mix)
	maps, err := d.Decompose(vols, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range mix {
		for j, m := range mats {
			tol := 0.01 // volume fraction
			if !m.Base() {
				tol = 0.02 * max(1, c[j]) // mg/mL
			}
			if got := float64(maps[j].Data[i]); math.Abs(got-c[j]) > tol {
				t.Errorf("mixture %v: %s %.4f %s, want %.4f", c, m.Name, got, m.Unit, c[j])
			}
		}
		// Solve, one voxel's bins at a time, gives the map's amounts.
		mu := make([]float64, len(bins))
		for b := range bins {
			mu[b] = float64(vols[b].Data[i])
		}
		x, err := d.Solve(mu)
		if err != nil {
			t.Fatal(err)
		}
		for j := range mats {
			got := 0.0 // air
			if x != nil {
				got = x[j]
			}
			if want := float64(maps[j].Data[i]); math.Abs(got-want) > 1e-4*max(1, want) {
				t.Errorf("mixture %v: Solve gives %s %.4f, the map %.4f", c, mats[j].Name, got, want)
			}
		}
	}
	if _, err := d.Solve([]float64{1}); err == nil {
		t.Error("Solve of one attenuation for five bins: no error")
	}
}

// TestLinearization checks the water beam-hardening correction against
// the polychromatic line integral of known lengths of water computed
// independently here from the tube spectrum and the NIST table: every
// length reads its length times the bin's reference attenuation.
func TestLinearization(t *testing.T) {
	tube, sbins, _ := defaultBins(t)
	l, err := NewLinearization(tube, sbins)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := scansim.TubeSpectrum(tube.KVp, tube.FiltrationMMAl, sbins[0].LowKeV, 0.25, nil)
	if err != nil {
		t.Fatal(err)
	}
	for b, bin := range sbins {
		for _, L := range []float64{0.5, 5, 15, 30, 60} {
			var num, den float64
			for k, c := range sp.Counts {
				if e := sp.Energy(k); e >= bin.LowKeV && e < bin.HighKeV {
					mu, _ := scansim.MassAttenuation(scansim.Water, e)
					num += c * math.Exp(-mu/10*L)
					den += c
				}
			}
			p := []float32{float32(-math.Log(num / den))}
			l.Apply(b, p)
			if want := bin.MuWater * L; math.Abs(float64(p[0])-want) > 0.01*want {
				t.Errorf("bin %v, %g mm of water: corrected line integral %.4f, want %.4f", bin, L, p[0], want)
			}
		}
	}
}

// TestRefusedBeforeWork checks that what cannot be decomposed is refused
// when the decomposition is prepared, saying why: a calibration made for
// other bins, a material the calibration lacks, more materials than the
// bins and conservation determine, nearly dependent equations, a vial fit
// that cannot tell materials apart, and a calibration file whose fit was
// ill-conditioned.
func TestRefusedBeforeWork(t *testing.T) {
	tube, sbins, bins := defaultBins(t)
	cal, err := Physics(tube, sbins)
	if err != nil {
		t.Fatal(err)
	}
	set := func(names ...string) []Material {
		m, err := ParseSet(names)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	other := []Bin{{15, 25}, {25, 35}, {35, 120}}
	for _, c := range []struct {
		name string
		bins []Bin
		mats []Material
		want string
	}{
		{"other bins", other, set("iodine"), "made for the 5 bins 15-25 keV, 25-33.5 keV, 33.5-50.5 keV, 50.5-70 keV, 70-120 keV; the scan's bin 25-35 keV is not among them"},
		{"too many materials", bins[:2], set("ha", "iodine", "gadolinium"), "3 materials (ha, iodine, gadolinium) need 3 independent equations, and 2 bins (no volume conservation without water or lipid) give 2"},
		{"too many with conservation", bins[:3], set("water", "lipid", "ha", "iodine", "gadolinium"), "and 3 bins and volume conservation give 4"},
		{"ill-conditioned", bins[:2], set("water", "lipid", "ha"), "nearly dependent (condition number 2.79e+04, over 2000)"},
	} {
		if _, err := NewDecomposer(cal, c.bins, c.mats); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error saying %q", c.name, err, c.want)
		}
	}
	if _, err := ParseSet([]string{"iodine", "barium"}); err == nil || !strings.Contains(err.Error(), `"barium"`) {
		t.Errorf("unknown material: got %v", err)
	}

	// Vials that always hold iodine and gadolinium together, in one ratio,
	// cannot tell them apart: the fit is refused before any volume is read.
	vials := []sinogram.Vial{
		scansim.NewVial("water", 0, 0, 1, 0, nil),
		scansim.NewVial("I+Gd", 3, 0, 1, 0, map[string]float64{"iodine": 2, "gadolinium": 2}),
		scansim.NewVial("2I+2Gd", 6, 0, 1, 0, map[string]float64{"iodine": 5, "gadolinium": 5}),
	}
	if _, err := Calibrate(&sinogram.Scan{Vials: vials, Bins: sbins}, []int{0, 1, 2, 3, 4}, nil); err == nil || !strings.Contains(err.Error(), "do not tell water, iodine, gadolinium apart") {
		t.Errorf("collinear vials: got %v, want the fit refused", err)
	}
	bad := *cal
	bad.Source, bad.Fit = SourceVials, &Fit{Vials: 5, ConditionNumber: 5e3}
	path := filepath.Join(t.TempDir(), "cal.json")
	if err := bad.Write(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "fit.condition_number 5e+03 exceeds 1000") {
		t.Errorf("ill-conditioned calibration file: got %v, want it refused naming the file", err)
	}
	// An edited file with a negative attenuation is refused, naming the
	// file, the material and the bin.
	neg := *cal
	neg.Materials = slices.Clone(cal.Materials)
	i := slices.IndexFunc(neg.Materials, func(m CalibratedMaterial) bool { return m.Name == "iodine" })
	neg.Materials[i].PerUnit = slices.Clone(neg.Materials[i].PerUnit)
	neg.Materials[i].PerUnit[2] = -0.002
	if err := neg.Write(path); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("materials[%d] (iodine): attenuation_per_mm_per_unit[2] (bin 33.5-50.5 keV) is -0.002, must be finite and not negative", i)
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
		t.Errorf("iodine -0.002 in bin 2: got %v, want it refused saying %q", err, want)
	}
}

// priorRegions are TestDecomposePrior's regions: a water phantom with a
// region of each other material.
var priorRegions = []struct {
	name   string
	at     [2]float64 // centre, mm
	amount []float64  // water, lipid, ha, iodine, gadolinium
}{
	{"water", [2]float64{0, 0}, []float64{1, 0, 0, 0, 0}},
	{"lipid", [2]float64{8, 0}, []float64{0, 1, 0, 0, 0}},
	{"HA 200 mg/mL", [2]float64{-8, 0}, []float64{1 - 200.0/3160, 0, 200, 0, 0}},
	{"iodine 4 mg/mL", [2]float64{0, 8}, []float64{1 - 4.0/4930, 0, 0, 4, 0}},
	{"gadolinium 4 mg/mL", [2]float64{0, -8}, []float64{1 - 4.0/7895, 0, 0, 0, 4}},
}

// priorRadius is the radius of priorRegions' regions, mm.
const priorRadius = 3.5

// regionVolumes returns the bins (cal's attenuations, on 48×48×16 voxels
// of 0.5 mm) of priorRegions in water, with Gaussian noise of noise times
// water's attenuation in each bin, and a function that returns each map's
// mean over the inner ROIFraction of a region centred at a point.
func regionVolumes(cal *Calibration, bins []Bin, noise float64) ([]*fdk.Volume, func([]*fdk.Volume, [2]float64) []float64) {
	g := fdk.CenteredGrid([3]int{48, 48, 16}, [3]float64{0.5, 0.5, 0.5}, fdk.Vec3{})
	water, _ := cal.material("water")
	rng := rand.New(rand.NewPCG(3, 4))
	vols := make([]*fdk.Volume, len(bins))
	for b := range vols {
		vols[b] = fdk.NewVolume(g)
	}
	for i := range g.Voxels() {
		p := g.Position(i%g.Dim[0], i/g.Dim[0]%g.Dim[1], i/(g.Dim[0]*g.Dim[1]))
		amount := priorRegions[0].amount
		for _, r := range priorRegions[1:] {
			if math.Hypot(p[0]-r.at[0], p[1]-r.at[1]) <= priorRadius {
				amount = r.amount
			}
		}
		for b := range bins {
			mu := 0.0
			for j, m := range cal.Materials {
				mu += amount[j] * m.PerUnit[b]
			}
			vols[b].Data[i] = float32(mu + noise*water.PerUnit[b]*rng.NormFloat64())
		}
	}
	means := func(maps []*fdk.Volume, at [2]float64) []float64 {
		out := make([]float64, len(maps))
		n := 0
		for i := range g.Voxels() {
			p := g.Position(i%g.Dim[0], i/g.Dim[0]%g.Dim[1], i/(g.Dim[0]*g.Dim[1]))
			if math.Hypot(p[0]-at[0], p[1]-at[1]) > ROIFraction*priorRadius {
				continue
			}
			for j, m := range maps {
				out[j] += float64(m.Data[i])
			}
			n++
		}
		for j := range out {
			out[j] /= float64(n)
		}
		return out
	}
	return vols, means
}

// TestDecomposePrior decomposes a noisy volume of known vials in water,
// built from the physics calibration's attenuations (the model exactly)
// with independent Gaussian noise of 0.75 % of water's attenuation in every
// voxel and bin, and compares the maps' means over each vial's inner
// 60 % and over a region of water with the truth. Voxel by voxel (PriorMM
// zero), the non-negativity clips the large noise along the near-null
// direction (water traded for lipid and mineral) into lipid in water,
// which must show here (over 0.1), so that the test fails on a
// decomposition without the prior. With the local prior (DefaultPriorMM)
// lipid in water reads under 0.05 and water within 0.05; the lipid
// vial within 0.1; iodine and gadolinium within 5 %, hydroxyapatite
// within 10 %; iodine and gadolinium in each other's vial under 0.3 mg/mL.
func TestDecomposePrior(t *testing.T) {
	cal, bins, d := physicsDecomposer(t)
	mats := d.Materials
	regions := priorRegions
	vols, means := regionVolumes(cal, bins, 0.0075)
	d.PriorMM = 0
	voxelwise, err := d.Decompose(vols, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := means(voxelwise, regions[0].at)[1]; got <= 0.1 {
		t.Fatalf("voxel by voxel, lipid in water reads %.3f: the noise is too low to show the bias the prior removes", got)
	}
	d.PriorMM = DefaultPriorMM
	maps, err := d.Decompose(vols, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range regions {
		got, plain := means(maps, r.at), means(voxelwise, r.at)
		t.Logf("%-20s with the prior %.3f, voxel by voxel %.3f, true %.3f", r.name, got, plain, r.amount)
		for j, m := range mats {
			want, tol := r.amount[j], 0.05
			switch {
			case m.Name == "lipid" && r.name == "lipid":
				tol = 0.1
			case m.Name == "ha" && want > 0:
				tol = 0.1 * want
			case !m.Base() && want > 0:
				tol = 0.05 * want
			case m.Name == "iodine" || m.Name == "gadolinium":
				tol = 0.3
			case m.Name == "ha":
				continue // mineral in the other vials: no bound
			}
			if math.Abs(got[j]-want) > tol {
				t.Errorf("%s: the %s map's mean %.3f, true %.3f (want within %.3g)", r.name, m.Name, got[j], want, tol)
			}
		}
	}
}

// TestDecomposeCalibrationNoiseLevel checks that the level of a
// calibration's noise (the calibration scan's dose) leaves the
// decomposition alone: only the bins' relative noise weights them. A vial
// calibration from the command line's default scan (20 000 counts, the
// ramp filter on 0.5 mm voxels) measured a voxel noise of 38 to 66 % of
// water's attenuation per bin (these ratios); weighted by it as it was,
// the conservation equation outweighed the bins forty times over,
// hydroxyapatite against gadolinium became a direction of eigenvalue
// 6e-4, under the prior's weight, and the maps of a noisy scan put a
// 296 mg/mL vial's mineral into 15 mg/mL of gadolinium. The same relative
// noise at a fiftieth of the level must give the same maps, and the
// issue's bounds in the mineral's and the agents' regions.
func TestDecomposeCalibrationNoiseLevel(t *testing.T) {
	phys, bins, _ := physicsDecomposer(t)
	relative := []float64{0.55, 0.42, 0.38, 0.54, 0.66} // of water's attenuation, per bin
	water, _ := phys.material("water")
	vols, means := regionVolumes(phys, bins, 0.05)
	// decompose returns the maps of vols under phys with the relative
	// noise at level times its value.
	decompose := func(level float64) []*fdk.Volume {
		cal := *phys
		cal.NoisePerMM = nil
		for b, r := range relative {
			cal.NoisePerMM = append(cal.NoisePerMM, level*r*water.PerUnit[b])
		}
		d, err := NewDecomposer(&cal, bins, Known)
		if err != nil {
			t.Fatal(err)
		}
		d.PriorMM = DefaultPriorMM
		maps, err := d.Decompose(vols, 2)
		if err != nil {
			t.Fatal(err)
		}
		return maps
	}
	low, high := decompose(1.0/50), decompose(1)
	for _, r := range priorRegions {
		got, want := means(high, r.at), means(low, r.at)
		t.Logf("%-20s calibration noise as measured %.3f, a fiftieth of it %.3f, true %.3f", r.name, got, want, r.amount)
		for j, m := range Known {
			if math.Abs(got[j]-want[j]) > 1e-3*max(1, math.Abs(want[j])) {
				t.Errorf("%s: the %s map's mean is %.4f with the calibration's noise as measured, %.4f with a fiftieth of it: the level must not matter", r.name, m.Name, got[j], want[j])
			}
			if truth := r.amount[j]; !m.Base() && truth > 0 && math.Abs(got[j]-truth) > 0.1*truth {
				t.Errorf("%s: the %s map's mean is %.3f, true %.3f (want within 10 %%)", r.name, m.Name, got[j], truth)
			}
		}
		if gd := got[4]; r.amount[4] == 0 && gd >= 0.5 {
			t.Errorf("%s: the gadolinium map's mean is %.3f, none there (want under 0.5)", r.name, gd)
		}
	}
}

// TestDecomposeAirEdge builds, from the physics calibration's own
// attenuations (the model exactly), a row of voxels where tissue meets
// air: voxels partly air (a fraction of water, of lipid, of an iodine
// solution, of a hydroxyapatite suspension) beside air, and water. Each
// must read its materials at their partial volume, nothing else (volume
// conservation alone read water at 0.6 as lipid with mineral), and the
// air (under half of water's attenuation) zero.
func TestDecomposeAirEdge(t *testing.T) {
	cal, bins, d := physicsDecomposer(t)
	row := airEdgeRow()
	maps, err := d.Decompose(mixtureVolumes(cal, bins, row), 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range row {
		want := c
		if i == len(row)-1 {
			want = make([]float64, 5) // under half of water's attenuation: air
		}
		for j, m := range d.Materials {
			tol := 0.01 // volume fraction
			if !m.Base() {
				tol = 0.02 * max(1, want[j]) // mg/mL
			}
			if got := float64(maps[j].Data[i]); math.Abs(got-want[j]) > tol {
				t.Errorf("voxel %d (%v): %s %.4f %s, want %.4f", i, c, m.Name, got, m.Unit, want[j])
			}
		}
	}
}

// airEdgeRow returns TestDecomposeAirEdge's row of voxels: the amounts
// of each (water, lipid, ha, iodine, gadolinium).
func airEdgeRow() [][]float64 {
	iodine, ha := []float64{1 - 5.0/4930, 0, 0, 5, 0}, []float64{1 - 200.0/3160, 0, 200, 0, 0}
	scale := func(f float64, c []float64) []float64 {
		out := make([]float64, len(c))
		for j, v := range c {
			out[j] = f * v
		}
		return out
	}
	water, lipid := []float64{1, 0, 0, 0, 0}, []float64{0, 1, 0, 0, 0}
	return [][]float64{
		water, water, water, water, scale(0.9, water), scale(0.6, water), scale(0.6, iodine),
		make([]float64, 5), // air
		scale(0.8, lipid), scale(0.7, ha), water, make([]float64, 5), scale(0.3, water),
	}
}

// mixtureVolumes returns the bins (cal's attenuations, 1/mm) of a row of
// voxels of 1 mm, one per mixture of mix (amounts in cal's materials'
// order): the model exactly.
func mixtureVolumes(cal *Calibration, bins []Bin, mix [][]float64) []*fdk.Volume {
	g := fdk.CenteredGrid([3]int{len(mix), 1, 1}, [3]float64{1, 1, 1}, fdk.Vec3{})
	vols := make([]*fdk.Volume, len(bins))
	for b := range bins {
		vols[b] = fdk.NewVolume(g)
		for i, c := range mix {
			mu := 0.0
			for j, m := range cal.Materials {
				mu += c[j] * m.PerUnit[b]
			}
			vols[b].Data[i] = float32(mu)
		}
	}
	return vols
}

// TestParseSetNames checks that a material set's names are read in any
// case and with spaces about them, as users type them ("Water,Iodine"),
// that an empty item (a doubled comma) is refused naming its place, and
// that a material named twice in two spellings is refused. Before,
// "Water" was unknown while an empty item was dropped silently by the
// command line (fails on that code).
func TestParseSetNames(t *testing.T) {
	got, err := ParseSet([]string{"Water", " IODINE ", "Lipid"})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got); n != "water, iodine, lipid" {
		t.Errorf("ParseSet(Water, IODINE, Lipid) = %s", n)
	}
	for _, c := range []struct {
		names []string
		want  string
	}{
		{[]string{"water", "", "iodine"}, `item 2 of "water,,iodine" is empty`},
		{[]string{"water", " "}, "item 2"},
		{[]string{"water", "Water"}, `material "water" listed twice`},
		{[]string{"water", "Barium"}, `unknown material "Barium"`},
	} {
		if _, err := ParseSet(c.names); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSet(%q): got %v, want an error saying %q", c.names, err, c.want)
		}
	}
}

// TestCheckVialsIllConditioned: vials that vary iodine and gadolinium only
// in proportion cannot tell them apart, and CheckVials says so from
// scan.json's concentrations alone, before a job reconstructs the scan
// (a fresh user's calibration of such vials reconstructed for 1.5
// minutes before Calibrate refused it).
func TestCheckVialsIllConditioned(t *testing.T) {
	vials := []sinogram.Vial{
		{Name: "water", VolumeFraction: map[string]float64{"water": 1}},
		{Name: "both 5", VolumeFraction: map[string]float64{"water": 1}, MgPerML: map[string]float64{"iodine": 5, "gadolinium": 5}},
		{Name: "both 10", VolumeFraction: map[string]float64{"water": 1}, MgPerML: map[string]float64{"iodine": 10, "gadolinium": 10}},
		{Name: "both 20", VolumeFraction: map[string]float64{"water": 1}, MgPerML: map[string]float64{"iodine": 20, "gadolinium": 20}},
	}
	err := CheckVials(vials)
	if err == nil || !strings.Contains(err.Error(), "concentration matrix (scan.json's vials) has condition number") || !strings.Contains(err.Error(), "water, iodine, gadolinium") {
		t.Errorf("proportional iodine and gadolinium: %v, want the concentration matrix's condition number, naming the materials", err)
	}
	vials[3].MgPerML = map[string]float64{"iodine": 20}
	if err := CheckVials(vials); err != nil {
		t.Errorf("a vial of iodine alone: %v, want none", err)
	}
}

// TestBaseHU checks BaseHU on the physics calibration of the default
// bins: water reads 0 HU, lipid (NIST adipose tissue) −50 to −400 HU in
// each bin (fat reads about −100 HU in clinical CT, far lower at low
// energies: −315 at 15-25 keV), and over several bins the mean of theirs; a bin the
// calibration was not made for and a material it lacks are errors naming
// them.
func TestBaseHU(t *testing.T) {
	cal, bins, _ := physicsDecomposer(t)
	sum := 0.0
	for _, b := range bins {
		w, err := cal.BaseHU("water", []Bin{b})
		if err != nil || w != 0 {
			t.Errorf("water in %v: %g HU, %v; want 0", b, w, err)
		}
		l, err := cal.BaseHU("lipid", []Bin{b})
		if err != nil || l > -50 || l < -400 {
			t.Errorf("lipid in %v: %g HU, %v; want -400 to -50", b, l, err)
		}
		t.Logf("lipid in %v: %.1f HU", b, l)
		sum += l
	}
	if all, err := cal.BaseHU("lipid", bins); err != nil || math.Abs(all-sum/float64(len(bins))) > 1e-9 {
		t.Errorf("lipid over the bins: %g HU, %v; want the bins' mean, %g", all, err, sum/float64(len(bins)))
	}
	if _, err := cal.BaseHU("lipid", []Bin{{LowKeV: 11, HighKeV: 12}}); err == nil || !strings.Contains(err.Error(), "11-12 keV") {
		t.Errorf("a bin of no calibration: %v, want an error naming it", err)
	}
	if _, err := cal.BaseHU("bone", bins); err == nil || !strings.Contains(err.Error(), "no bone") {
		t.Errorf("a material of no calibration: %v, want an error naming it", err)
	}
}
