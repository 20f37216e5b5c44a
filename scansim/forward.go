package scansim

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/fdk/phantom"
	"github.com/ctrecon/ctrecon/sinogram"
)

// transmission returns, per bin, the fraction of the bin's open-beam photons
// that reach each virtual detector pixel in view v.
func (s *Simulator) transmission(v int) ([][]float64, error) {
	g := &s.scan.Geometry
	P := &s.views[v].P
	src, err := P.Source()
	if err != nil {
		return nil, err
	}
	// The ray through pixel (col, row) is the left 3x3 block's inverse
	// applied to (col, row, 1): one inverse per view, as Matrix.Ray does
	// per pixel. Columns a material's shapes cannot reach are skipped.
	inv, err := inverseLeft(P)
	if err != nil {
		return nil, err
	}
	reach := make([][2]float64, len(s.mats))
	for m := range s.mats {
		reach[m] = columnReach(s.objects[m], P)
	}
	out := make([][]float64, len(s.weights))
	for b := range out {
		out[b] = make([]float64, g.Pixels())
	}
	depth := make([]float64, len(s.spectrum.Counts))
	path := make([]float64, len(s.mats))
	active := make([]int, 0, len(s.mats))
	for row := range g.Rows {
		for col := range g.Cols {
			i := row*g.Cols + col
			c, r := float64(col), float64(row)
			dir := fdk.Vec3{inv[0][0]*c + inv[0][1]*r + inv[0][2], inv[1][0]*c + inv[1][1]*r + inv[1][2], inv[2][0]*c + inv[2][1]*r + inv[2][2]}
			active = active[:0]
			for m := range s.mats {
				path[m] = 0
				if c >= reach[m][0] && c <= reach[m][1] {
					path[m] = s.objects[m].LineIntegral(src, dir)
				}
				if path[m] != 0 {
					active = append(active, m)
				}
			}
			if len(active) == 0 {
				for b := range out {
					out[b][i] = 1
				}
				continue
			}
			// Optical depth per energy, then the bins' weighted sums.
			m0 := active[0]
			for k, mu := range s.mu[m0] {
				depth[k] = mu * path[m0]
			}
			for _, m := range active[1:] {
				for k, mu := range s.mu[m] {
					depth[k] += mu * path[m]
				}
			}
			for b := range out {
				sum := 0.0
				for k := s.binRange[b][0]; k < s.binRange[b][1]; k++ {
					sum += s.weights[b][k] * expNeg(depth[k])
				}
				out[b][i] = sum
			}
		}
	}
	return out, nil
}

// expNeg returns e^-a for a >= 0 to a relative error below 1e-9, about
// three times faster than math.Exp, which the forward model calls for every
// pixel and energy: e^-a = 2^-n · e^t with n the nearest integer to
// a·log2(e) and |t| <= ln(2)/2, e^t by its Taylor series to t^9/9!
// (remainder below 3e-10).
func expNeg(a float64) float64 {
	switch {
	case a > 700:
		return 0
	case a < 0: // rounding of regions that cancel, or a negative phantom
		return math.Exp(-a)
	}
	x := a * math.Log2E
	n := int64(x + 0.5) // x >= 0: truncation rounds
	t := (float64(n) - x) * math.Ln2
	p := 1 + t*(1+t*(1.0/2+t*(1.0/6+t*(1.0/24+t*(1.0/120+t*(1.0/720+t*(1.0/5040+t*(1.0/40320+t/362880))))))))
	return p * math.Float64frombits(uint64(1023-n)<<52)
}

// inverseLeft inverts the left 3x3 block of P.
func inverseLeft(P *fdk.Matrix) ([3][3]float64, error) {
	var inv [3][3]float64
	a := func(r, k int) float64 { return P[r][k] }
	for r := range 3 {
		for k := range 3 {
			r1, r2 := (r+1)%3, (r+2)%3
			k1, k2 := (k+1)%3, (k+2)%3
			inv[k][r] = a(r1, k1)*a(r2, k2) - a(r1, k2)*a(r2, k1)
		}
	}
	det := a(0, 0)*inv[0][0] + a(0, 1)*inv[1][0] + a(0, 2)*inv[2][0]
	if det == 0 || math.IsNaN(det) || math.IsInf(det, 0) {
		return inv, fdk.ErrSingular
	}
	for r := range 3 {
		for k := range 3 {
			inv[r][k] /= det
		}
	}
	return inv, nil
}

// columnReach returns the detector column range that rays through p's
// shapes can fall on: the projections of the corners of each shape's
// bounding box, widened by a pixel. It returns the whole line when a corner
// lies at or behind the source.
func columnReach(p phantom.Phantom, P *fdk.Matrix) [2]float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, o := range p {
		// A shape turned about z fits in a box of half-width |axes| in x and y.
		rxy := math.Hypot(o.Axes[0], o.Axes[1])
		for _, dx := range []float64{-rxy, rxy} {
			for _, dy := range []float64{-rxy, rxy} {
				for _, dz := range []float64{-o.Axes[2], o.Axes[2]} {
					col, _, w := P.Project(fdk.Vec3{o.Center[0] + dx, o.Center[1] + dy, o.Center[2] + dz})
					if !(w > 0) {
						return [2]float64{math.Inf(-1), math.Inf(1)}
					}
					lo, hi = min(lo, col), max(hi, col)
				}
			}
		}
	}
	return [2]float64{lo - 1, hi + 1}
}

// ExactLineIntegrals returns view v's noiseless line integrals per bin on
// the virtual detector: -ln of the bin's transmitted fraction, what
// preprocessing recovers from the counts in the absence of noise, defects
// and gaps.
func (s *Simulator) ExactLineIntegrals(v int) ([][]float32, error) {
	if v < 0 || v >= len(s.views) {
		return nil, fmt.Errorf("view %d out of range [0, %d)", v, len(s.views))
	}
	t, err := s.transmission(v)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(t))
	for b, tb := range t {
		out[b] = make([]float32, len(tb))
		for i, x := range tb {
			out[b][i] = float32(-math.Log(x))
		}
	}
	return out, nil
}

// Frame identifiers for the random streams: every frame has its own, so the
// result does not depend on the order frames are made in.
const (
	streamFlat = 1 << 40
	streamDark = 2 << 40
)

// frameCounts draws one frame of bin b at camera c: trans (per virtual
// pixel; nil for no beam) times the open beam, through the pixel's gain and
// defects, plus the dark counts.
func (s *Simulator) frameCounts(b, c int, trans []float64, stream uint64) []float64 {
	rng := rand.New(rand.NewPCG(s.spec.Seed, stream))
	open := s.spec.OpenCounts * s.binShare[b]
	out := make([]float64, len(s.defect))
	draw := func(lambda float64) float64 {
		if s.spec.Noiseless {
			return lambda
		}
		return poissonCount(lambda, rng)
	}
	for i, d := range s.defect {
		vi := s.virt[c][i]
		lambda := 0.0
		if trans != nil {
			lambda = open * s.falloff[vi] * s.gain[b][i] * trans[vi]
		}
		switch {
		case d&sinogram.Dead != 0:
			out[i] = 0
			continue
		case d&sinogram.Noisy != 0:
			lambda *= 0.3 + 1.4*rng.Float64()
		case d&sinogram.Hot != 0:
			lambda += 3000 * (0.5 + rng.Float64())
		}
		out[i] = draw(lambda + s.spec.DarkCounts)
	}
	return out
}
