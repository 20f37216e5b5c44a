package material

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"

	"github.com/ctrecon/ctrecon/fdk"
)

// noiseSamples bounds how many voxel differences NoiseSD takes the median
// of: evenly spread over the volume, enough for a median within about
// 1 % and a sort of milliseconds.
const noiseSamples = 1 << 18

// madToSD turns the median absolute deviation of a normal variable into
// its standard deviation.
const madToSD = 1.482602218505602

// NoiseLagSlices returns how many slices apart NoiseSD should compare
// voxels of a grid of slice spacing dzMM after a Gaussian blur of
// sigmaMM (Smooth; 0 for none): one slice without it, since the
// reconstruction's noise is independent from slice to slice where its
// spacing is no finer than the detector rows' (FDK filters the rows
// alone); with it, far enough (4.3 σ) that the blur leaves the two
// voxels' noise under 1 % correlated.
func NoiseLagSlices(dzMM, sigmaMM float64) int {
	return 1 + int(math.Ceil(4.3*sigmaMM/dzMM))
}

// NoiseSD estimates the standard deviation of vol's noise per voxel from
// the differences of voxels lag slices apart along z (along x in a volume
// of fewer slices), where both lie inside (nil: every voxel): for
// independent noise of equal variance σ² such a difference has variance
// 2σ², and its median absolute deviation is robust to the edges of
// objects that end between the two (the objects' own structure changes
// little along z over a few slices, far less than across it). It returns
// the estimate and how many pairs it rests on (up to noiseSamples, spread
// evenly), and 0, 0 where there is no pair. The estimate is the typical
// noise of the region: FDK's noise is higher at the centre of an object
// than at its edge.
func NoiseSD(vol *fdk.Volume, inside []bool, lag int) (sd float64, pairs int) {
	g := vol.Grid
	step, rowLen := g.Dim[0]*g.Dim[1]*lag, 0
	if g.Dim[2] <= lag {
		step, rowLen = lag, g.Dim[0]
	}
	var d []float64
	samplePairs(len(vol.Data), step, rowLen, func(i, j int) {
		if inside == nil || inside[i] && inside[j] {
			d = append(d, float64(vol.Data[j])-float64(vol.Data[i]))
		}
	})
	if len(d) < 2 {
		return 0, 0
	}
	return madToSD * medianAbsDeviation(d) / math.Sqrt2, len(d)
}

// samplePairs calls pair with up to noiseSamples pairs of indices
// (i, i+step) of a volume of n voxels, evenly spread over it; where
// rowLen is over zero, only those on one row of rowLen voxels. It calls
// none where step is under one.
func samplePairs(n, step, rowLen int, pair func(i, j int)) {
	n -= step
	if n <= 0 || step < 1 {
		return
	}
	every := max(1, n/noiseSamples)
	for i := 0; i < n; i += every {
		if j := i + step; rowLen == 0 || i/rowLen == j/rowLen {
			pair(i, j)
		}
	}
}

// SpreadLag returns how many voxels apart Decomposer.DecomposeSpread should
// compare voxels of in-plane spacing dxMM in a map decomposed with a
// Gaussian blur of sigmaMM (0 for none) and a local prior of radius
// priorMM (0 for none): NoiseLagSlices's lag, plus the guided filter's
// two passes of half-width priorMM, past which the prior's noise is
// independent.
func SpreadLag(dxMM, sigmaMM, priorMM float64) int {
	return NoiseLagSlices(dxMM, sigmaMM) + int(math.Ceil(2*priorMM/dxMM))
}

// medianAbsDeviation returns the median of |x − median(x)|, each median
// the lower middle value of an even count; it reorders x.
func medianAbsDeviation(x []float64) float64 {
	slices.Sort(x)
	m := stat.Quantile(0.5, stat.Empirical, x, nil)
	for i, v := range x {
		x[i] = math.Abs(v - m)
	}
	slices.Sort(x)
	return stat.Quantile(0.5, stat.Empirical, x, nil)
}

// MapNoise returns the standard deviation per voxel of each of d's maps
// (d.Materials' order, units as Decompose's) that the bins' noise
// binSD (1/mm per voxel, one per bin in NewDecomposer's order, as
// NoiseSD measures) puts into them on a grid of voxel spacing mm. It is
// the covariance of the least-squares solve Decompose does without the
// non-negativity constraint: with A the weighted equations (each bin's
// attenuation per unit of each material over the bin's calibrated noise,
// and the volume conservation equation) and b their right-hand side,
// x = (AᵀA)⁻¹Aᵀb has the covariance G·Cov(b)·Gᵀ with G = (AᵀA)⁻¹Aᵀ and
// Cov(b) each bin's measured noise times its weight, squared. Where the
// calibration's noise is the bins' (up to one factor) and the
// conservation equation is taken as exact, this is (AᵀWA)⁻¹ with
// W = diag(1/binSD²); a calibration's noise from another scan, or the
// physics calibration's assumed one, makes it differ.
//
// Where d takes the near-null directions from the local prior
// (Regularized), AᵀA gains the prior's penalty, and the prior's own noise
// is added along each such direction: the voxels' coordinate along it,
// averaged by the guided filter over n voxels (a box of half-widths r
// applied twice: per axis 3m³/(2m²+1) voxels of independent noise for
// m = 2r+1, where the guide is flat). Neighbouring voxels' noise is
// correlated, so the prior averages fewer independent samples, and its
// noise there is a lower bound.
//
// The guided filter also passes on the guide's own noise where it
// correlates with the coordinate, which this ignores: on a volume of
// water with independent noise in every voxel and bin (TestSpread) the
// unconstrained water map's noise is 3.3 times what this states.
//
// It ignores the non-negativity constraint (which clips an absent
// material's noise, lowering its spread and raising its mean; Spread
// measures the unconstrained amounts, comparable with this), noise
// shared between bins (none between the counters, apart from the flat
// field's), the calibration's own error (a bias, the same in every
// voxel), and the noise's correlation between neighbouring voxels (the
// result is per voxel: a region's mean is less noisy by less than the
// square root of its voxels).
func (d *Decomposer) MapNoise(binSD []float64, spacingMM [3]float64) ([]float64, error) {
	if len(binSD) != d.bins {
		return nil, fmt.Errorf("material noise: %d noise values for %d bins", len(binSD), d.bins)
	}
	var varB [maxRows]float64 // the right-hand side's variance per row
	var covB [maxRows][maxRows]float64
	for r, s := range binSD {
		if !(s >= 0) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("material noise: bin %d: noise %g /mm, must be zero or positive", r, s)
		}
		varB[r] = s * s * d.weight[r] * d.weight[r]
		covB[r][r] = varB[r]
	}
	solver := d.solver
	if d.Regularized() {
		solver = d.prior
	}
	cov := d.covariance(solver, &covB)
	if d.Regularized() {
		inv := solver.inv[1<<len(d.Materials)-1]
		d.addPriorNoise(&cov, &inv, &varB, spacingMM)
	}
	return d.unscaledSD(&cov), nil
}

// covariance returns G·covB·Gᵀ, the covariance of the scaled amounts
// that solver's unconstrained least squares, G = (AᵀA)⁻¹Aᵀ, gives a
// right-hand side of covariance covB.
func (d *Decomposer) covariance(solver *nnls, covB *[maxRows][maxRows]float64) [maxCols][maxCols]float64 {
	n, rows := len(d.Materials), solver.rows
	inv := solver.inv[1<<n-1] // (AᵀA)⁻¹, with the prior's penalty where regularised
	var g [maxCols][maxRows]float64
	for j := range n {
		for r := range rows {
			for k := range n {
				g[j][r] += inv[j][k] * solver.a[r][k]
			}
		}
	}
	var cov [maxCols][maxCols]float64
	for j := range n {
		for k := range n {
			for r := range rows {
				for c := range rows {
					cov[j][k] += g[j][r] * covB[r][c] * g[k][c]
				}
			}
		}
	}
	return cov
}

// unscaledSD returns the standard deviations of the amounts, in their
// units, from the covariance of the scaled ones.
func (d *Decomposer) unscaledSD(cov *[maxCols][maxCols]float64) []float64 {
	sd := make([]float64, len(d.Materials))
	for j := range sd {
		sd[j] = math.Sqrt(max(0, cov[j][j])) / d.colScale[j]
	}
	return sd
}

// CalibrationBias returns, per map (d.Materials' order and units), the
// standard deviation of the bias that cal's own error puts into a voxel
// holding amounts (d.Materials' order and units): cal must be the
// calibration d was made from, on the same bins. The bias is the same in
// every voxel of like content, so averaging over a region does not lessen
// it. A voxel of amounts x is modelled in bin b as Σⱼ xⱼ·aⱼ_b; errors δa
// of the calibrated attenuations, whose covariance the fit states
// (Fit.AmountCovariance K and Fit.VialErrorCovariance Σ: K[j][k]·Σ[b][c]),
// change the modelled attenuations by δμ = δA·x, of covariance (xᵀKx)·Σ,
// and move the solution by −G·δμ to first order, G the unconstrained
// least-squares solve of MapNoise: its covariance is G·Cov(δμ)·Gᵀ (the
// propagation of errors in a linear model's design matrix to first order;
// e.g. Fuller, Measurement Error Models, Wiley 1987, §2.2). The solve of
// the near-null directions from the local prior (Regularized) is the same
// unconstrained solve averaged, and so carries the same bias; the
// non-negativity is ignored, as in MapNoise. A calibration without the
// fit's covariances (physics, or a file from before they were kept) gives
// zeros.
func (d *Decomposer) CalibrationBias(cal *Calibration, bins []Bin, amounts []float64) ([]float64, error) {
	if len(amounts) != len(d.Materials) || len(bins) != d.bins {
		return nil, fmt.Errorf("calibration bias: %d amounts and %d bins, want %d and %d", len(amounts), len(bins), len(d.Materials), d.bins)
	}
	var covB [maxRows][maxRows]float64
	if f := cal.Fit; f != nil && f.AmountCovariance != nil && f.VialErrorCovariance != nil {
		x := make([]float64, len(cal.Materials)) // amounts in the calibration's order
		for j, m := range d.Materials {
			x[slices.IndexFunc(cal.Materials, func(c CalibratedMaterial) bool { return c.Name == m.Name })] = amounts[j]
		}
		var q float64 // xᵀKx
		for j := range x {
			for k := range x {
				q += x[j] * f.AmountCovariance[j][k] * x[k]
			}
		}
		idx := make([]int, len(bins))
		for b, bin := range bins {
			var err error
			if idx[b], err = cal.binIndex(bin); err != nil {
				return nil, fmt.Errorf("calibration bias: %w", err)
			}
		}
		for b := range bins {
			for c := range bins {
				covB[b][c] = q * f.VialErrorCovariance[idx[b]][idx[c]] * d.weight[b] * d.weight[c]
			}
		}
	}
	cov := d.covariance(d.solver, &covB)
	return d.unscaledSD(&cov), nil
}

// BaseBias returns, per map (d.Materials' order and units), the larger
// of the calibration biases (CalibrationBias) in a voxel of pure water
// and in one of pure lipid, of those base materials d holds: the
// materials every object is mostly made of, so the bias a user meets
// most. cal and bins are as CalibrationBias wants them; without a base
// material the biases are zero.
func (d *Decomposer) BaseBias(cal *Calibration, bins []Bin) ([]float64, error) {
	bias := make([]float64, len(d.Materials))
	for ref, m := range d.Materials {
		if !m.Base() {
			continue
		}
		amounts := make([]float64, len(d.Materials))
		amounts[ref] = 1
		b, err := d.CalibrationBias(cal, bins, amounts)
		if err != nil {
			return nil, err
		}
		for j := range bias {
			bias[j] = max(bias[j], b[j])
		}
	}
	return bias, nil
}

// addPriorNoise adds to cov, the scaled amounts' covariance, the local
// prior's noise along each near-null direction (see MapNoise): the prior
// enters the solve as priorWeight·p·v, so its variance var(p) adds
// priorWeight²·var(p)·(Mv)(Mv)ᵀ with M = inv, the penalised normal
// matrix's inverse; var(p) is that of the voxel's coordinate u·b over
// the guided filter's effective number of voxels.
func (d *Decomposer) addPriorNoise(cov, inv *[maxCols][maxCols]float64, varB *[maxRows]float64, spacingMM [3]float64) {
	neff := 1.0
	for _, s := range spacingMM {
		m := 2*math.Round(d.PriorMM/s) + 1
		neff *= 3 * m * m * m / (2*m*m + 1)
	}
	n := len(d.Materials)
	for _, dir := range d.nearNull {
		varP := 0.0
		for r := range d.solver.rows {
			varP += dir.u[r] * dir.u[r] * varB[r]
		}
		varP /= neff
		var mv [maxCols]float64
		for j := range n {
			for k := range n {
				mv[j] += inv[j][k] * dir.v[k]
			}
		}
		for j := range n {
			for k := range n {
				cov[j][k] += priorWeight * priorWeight * varP * mv[j] * mv[k]
			}
		}
	}
}

// noiseLimits are the per-voxel noise standard deviations, in each
// material's Unit, over which NoiseLimit calls a map dominated by noise:
// twice the accuracy a vial's mean is asked for (0.5 mg/mL for the
// contrast agents, a tenth of the volume for water and lipid), and for
// hydroxyapatite a tenth of a bone rod's 400 mg/mL plus that margin. A
// voxel then tells little beyond whether a vial holds several times
// that.
var noiseLimits = map[string]float64{"water": 0.1, "lipid": 0.1, "ha": 50, "iodine": 1, "gadolinium": 1}

// NoiseLimit returns the per-voxel noise standard deviation over which
// m's map is dominated by noise, in m's Unit (see noiseLimits).
func NoiseLimit(m Material) float64 { return noiseLimits[m.Name] }
