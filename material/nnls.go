package material

import "math"

// Sizes of the fixed systems: at most 8 bins (a Medipix3RX pixel's
// counters) and the conservation equation; at most 8 materials.
const (
	maxRows = 9
	maxCols = 8
)

// nnls solves min ‖A x − b‖ subject to x ≥ 0 (and, where exact, to A's
// last row met exactly) for one system matrix A (rows × cols, columns
// scaled to unit length) and many right-hand sides, by the active-set
// algorithm of Lawson and Hanson (1974, ch. 23) in the normal-equation
// form of Bro and De Jong (1997). Because A is shared, the
// inverse of AᵀA restricted to every subset of columns (the passive set,
// as a bit mask) is computed once; a solve then costs a few small
// matrix-vector products and allocates nothing.
type nnls struct {
	rows, cols int
	a          [maxRows][maxCols]float64
	gram       [maxCols][maxCols]float64
	// inv[mask] is (A_Pᵀ A_P)⁻¹ for the columns P in mask, as a full
	// cols × cols matrix with zeros outside P.
	inv [][maxCols][maxCols]float64
	// exact makes A's last row, a, an equation the solution meets
	// exactly (exactLastRow), with right-hand side rhs. Per mask, with
	// g = 1/(aᵀ inv a) (zero where no column of mask is in the row) and
	// l = g inv a: proj = inv − g (inv a)(inv a)ᵀ and off = rhs l, so
	// that the solution on mask is proj atb + off, and its multiplier
	// l·atb − rhs g.
	exact bool
	rhs   float64
	proj  [][maxCols][maxCols]float64
	off   [][maxCols]float64
	l     [][maxCols]float64
	g     []float64
}

// noOffset is passiveSolve's offset where not exact.
var noOffset [maxCols]float64

// newNNLS prepares the solver of a. A's columns must be linearly
// independent, so that every subset's normal matrix is invertible (its
// singular values lie within A's).
func newNNLS(a [maxRows][maxCols]float64, rows, cols int) *nnls {
	s := &nnls{rows: rows, cols: cols, a: a, inv: make([][maxCols][maxCols]float64, 1<<cols)}
	for i := range cols {
		for j := range cols {
			for r := range rows {
				s.gram[i][j] += a[r][i] * a[r][j]
			}
		}
	}
	s.invertSubsets()
	return s
}

// invertSubsets sets inv from gram, and proj, off, l and g where exact.
func (s *nnls) invertSubsets() {
	for mask := 1; mask < 1<<s.cols; mask++ {
		s.inv[mask] = s.subsetInverse(uint(mask))
	}
	if s.exact {
		s.prepareEquality()
	}
}

// exactLastRow makes the solver meet A's last row exactly, aᵀx = rhs,
// instead of in the least-squares sense: the minimiser of ‖A x − b‖²
// over x ≥ 0 with aᵀx = rhs, for b whose last element is rhs (the
// row's own residual is then zero, so keeping it in the normal matrix
// changes no solution; it keeps every subset's normal matrix invertible
// where a column is zero in the other rows). Each passive set's solve
// adds the row's Lagrange multiplier (the equality-constrained least
// squares of Lawson and Hanson, ch. 20, by the method of Lagrange
// multipliers on the normal equations), folded into a precomputed
// matrix per passive set, so that a solve costs what it did. Where the
// row's elements are positive, every non-empty passive set can meet it.
// It returns s.
func (s *nnls) exactLastRow(rhs float64) *nnls {
	s.exact, s.rhs = true, rhs
	s.prepareEquality()
	return s
}

// prepareEquality sets proj, off, l and g from inv.
func (s *nnls) prepareEquality() {
	n := 1 << s.cols
	s.proj, s.off, s.l, s.g = make([][maxCols][maxCols]float64, n), make([][maxCols]float64, n), make([][maxCols]float64, n), make([]float64, n)
	row := &s.a[s.rows-1]
	for mask := 1; mask < n; mask++ {
		var ia [maxCols]float64 // inv a
		q := 0.0
		for k := range s.cols {
			for j := range s.cols {
				ia[k] += s.inv[mask][k][j] * row[j]
			}
			q += row[k] * ia[k]
		}
		if q > 0 {
			s.g[mask] = 1 / q
		}
		for k := range s.cols {
			s.l[mask][k] = s.g[mask] * ia[k]
			s.off[mask][k] = s.rhs * s.l[mask][k]
			for j := range s.cols {
				s.proj[mask][k][j] = s.inv[mask][k][j] - s.g[mask]*ia[k]*ia[j]
			}
		}
	}
}

// subsetInverse inverts the normal matrix of the columns in mask by
// Gauss-Jordan elimination with partial pivoting.
func (s *nnls) subsetInverse(mask uint) [maxCols][maxCols]float64 {
	var idx [maxCols]int
	n := 0
	for j := range s.cols {
		if mask&(1<<j) != 0 {
			idx[n] = j
			n++
		}
	}
	var m, inv [maxCols][maxCols]float64
	for i := range n {
		for j := range n {
			m[i][j] = s.gram[idx[i]][idx[j]]
		}
		inv[i][i] = 1
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		m[c], m[p] = m[p], m[c]
		inv[c], inv[p] = inv[p], inv[c]
		d := m[c][c]
		for j := range n {
			m[c][j] /= d
			inv[c][j] /= d
		}
		for r := range n {
			if r == c || m[r][c] == 0 {
				continue
			}
			f := m[r][c]
			for j := range n {
				m[r][j] -= f * m[c][j]
				inv[r][j] -= f * inv[c][j]
			}
		}
	}
	var out [maxCols][maxCols]float64
	for i := range n {
		for j := range n {
			out[idx[i]][idx[j]] = inv[i][j]
		}
	}
	return out
}

// withPenalty returns a solver of the same A (exact where s is) for the
// objective ‖A x − b‖² + (x − p)ᵀ P (x − p), P symmetric positive
// semi-definite: P is added to the normal matrix, and solveNormal is
// given Aᵀb + P p.
// This is Tikhonov regularisation toward a prior solution p in its
// general form (P. C. Hansen, "Rank-Deficient and Discrete Ill-Posed
// Problems", SIAM, 1998, ch. 5).
func (s *nnls) withPenalty(p *[maxCols][maxCols]float64) *nnls {
	out := &nnls{rows: s.rows, cols: s.cols, a: s.a, gram: s.gram, inv: make([][maxCols][maxCols]float64, 1<<s.cols), exact: s.exact, rhs: s.rhs}
	for i := range s.cols {
		for j := range s.cols {
			out.gram[i][j] += p[i][j]
		}
	}
	out.invertSubsets()
	return out
}

// atb returns Aᵀb.
func (s *nnls) atb(b *[maxRows]float64) [maxCols]float64 {
	var atb [maxCols]float64
	for j := range s.cols {
		for r := range s.rows {
			atb[j] += s.a[r][j] * b[r]
		}
	}
	return atb
}

// solve writes into x the non-negative least-squares solution for b.
func (s *nnls) solve(b *[maxRows]float64, x *[maxCols]float64) {
	atb := s.atb(b)
	s.solveNormal(&atb, x)
}

// solveFrom is solve started from the passive set hint (solveNormalFrom);
// it returns the solution's passive set.
func (s *nnls) solveFrom(b *[maxRows]float64, x *[maxCols]float64, hint uint) uint {
	atb := s.atb(b)
	return s.solveNormalFrom(&atb, x, hint)
}

// solveNormal writes into x the non-negative minimiser of
// ½ xᵀ G x − xᵀ atb, G the solver's normal matrix: the least-squares
// solution when atb is Aᵀb.
func (s *nnls) solveNormal(atb *[maxCols]float64, x *[maxCols]float64) {
	s.solveNormalFrom(atb, x, 0)
}

// solveNormalFrom is solveNormal started from the passive set hint (a
// bit per column) and returns the solution's passive set. Where hint's
// unconstrained solution is positive on all of hint, Lawson and Hanson's
// loop starts from it instead of from no column: a feasible start, from
// which the loop converges as from zero, to the same minimiser (unique,
// G being positive definite) and, when the solution's passive set is
// hint, to the same bits, since both end with hint's passiveSolve.
// Neighbouring voxels mostly share their passive set, so Decompose gives
// each voxel the last one's; that spares the passes that add its columns
// one at a time.
func (s *nnls) solveNormalFrom(atb *[maxCols]float64, x *[maxCols]float64, hint uint) uint {
	n := s.cols
	var w, z [maxCols]float64
	scale := 0.0
	for j := range n {
		scale += math.Abs(atb[j])
		x[j], w[j] = 0, atb[j]
	}
	tol := 1e-12 * scale
	var passive uint
	if hint != 0 && s.positiveOn(hint, atb, &z) {
		passive, *x = hint, z
		s.lagrangeGradient(atb, x, passive, &w)
	}
	// Lawson and Hanson bound the outer loop by 3n in practice; each
	// pass adds one column to the passive set. Where exact, x = 0 does
	// not meet the last row: the first pass takes a column whatever its
	// gradient, and from then on x meets it.
	for range 3 * n {
		j, best := -1, tol
		if s.exact && passive == 0 {
			best = math.Inf(-1)
		}
		for k := range n {
			if passive&(1<<k) == 0 && w[k] > best {
				j, best = k, w[k]
			}
		}
		if j < 0 {
			break
		}
		passive |= 1 << j
		for range n {
			s.passiveSolve(passive, atb, &z)
			alpha, feasible := 1.0, true
			for k := range n {
				if passive&(1<<k) != 0 && z[k] <= 0 {
					feasible = false
					alpha = min(alpha, x[k]/(x[k]-z[k]))
				}
			}
			if feasible {
				break
			}
			for k := range n {
				if passive&(1<<k) != 0 {
					x[k] += alpha * (z[k] - x[k])
					if x[k] <= tol {
						x[k] = 0
						passive &^= 1 << k
					}
				}
			}
		}
		s.passiveSolve(passive, atb, &z)
		for k := range n {
			x[k] = max(0, z[k])
		}
		s.lagrangeGradient(atb, x, passive, &w)
	}
	return passive
}

// positiveOn writes into z the solution on the columns in mask
// (passiveSolve) and reports whether it is positive on all of them.
func (s *nnls) positiveOn(mask uint, atb, z *[maxCols]float64) bool {
	s.passiveSolve(mask, atb, z)
	for k := range s.cols {
		if mask&(1<<k) != 0 && z[k] <= 0 {
			return false
		}
	}
	return true
}

// lagrangeGradient writes into w, for each column not in the passive set
// mask, the negative gradient atb − G x − λ a of the Lagrangian, a the
// exact last row and λ its multiplier for mask (zero where not exact): a
// column with w over zero would lower the objective. The solve reads no
// other column's, and computes none.
func (s *nnls) lagrangeGradient(atb, x *[maxCols]float64, mask uint, w *[maxCols]float64) {
	if mask == 1<<s.cols-1 {
		return
	}
	lambda := 0.0
	if s.exact {
		lambda = -s.rhs * s.g[mask]
		for k := range s.cols {
			lambda += s.l[mask][k] * atb[k]
		}
	}
	for k := range s.cols {
		if mask&(1<<k) == 0 {
			w[k] = atb[k] - lambda*s.a[s.rows-1][k]
			for l := range s.cols {
				w[k] -= s.gram[k][l] * x[l]
			}
		}
	}
}

// passiveSolve writes into z the least-squares solution on the columns in
// mask, zero elsewhere: unconstrained, or, where exact, meeting the last
// row exactly (z = G⁻¹(atb − λ a), λ the row's Lagrange multiplier).
func (s *nnls) passiveSolve(mask uint, atb, z *[maxCols]float64) {
	m, off := &s.inv[mask], &noOffset
	if s.exact {
		m, off = &s.proj[mask], &s.off[mask]
	}
	for k := range s.cols {
		z[k] = off[k]
		for l := range s.cols {
			z[k] += m[k][l] * atb[l]
		}
	}
}
