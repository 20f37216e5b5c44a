package radiomics

import (
	"math"
	"sort"
)

// shape holds what the morphological features (IBSI HCUG) are made of.
// Positions are in mm.
type shape struct {
	volume, area         float64 // of the mesh
	voxelVolume          float64 // voxel counting
	hullVolume, hullArea float64
	diameter             float64
	aabbVolume, aabbArea float64
	eigen                [3]float64 // of the voxel centres' covariance, largest first
	centreShift          float64
	meanIntensity        float64
	moranI, gearyC       float64
}

func newShape(r *roi) *shape {
	s := &shape{}
	m := newMesh(r.morph, r.Grid)
	s.volume, s.area = volumeArea(m.vertices, m.triangles)
	candidates := hullCandidates(m)
	if tris := convexHull(candidates); tris != nil {
		s.hullVolume, s.hullArea = volumeArea(candidates, tris)
		var onHull []int32
		seen := map[int32]bool{}
		for _, t := range tris {
			for _, v := range t {
				if !seen[v] {
					seen[v] = true
					onHull = append(onHull, v)
				}
			}
		}
		s.diameter = diameter(candidates, onHull)
	}
	lo, hi := m.vertices[0], m.vertices[0]
	for _, p := range m.vertices {
		for a := range 3 {
			lo[a], hi[a] = min(lo[a], p[a]), max(hi[a], p[a])
		}
	}
	e := sub(hi, lo)
	s.aabbVolume = e[0] * e[1] * e[2]
	s.aabbArea = 2 * (e[0]*e[1] + e[1]*e[2] + e[2]*e[0])

	var centres [][3]float64
	for n, in := range r.morph {
		if in {
			centres = append(centres, r.position(n))
		}
	}
	s.voxelVolume = float64(len(centres)) * r.Spacing[0] * r.Spacing[1] * r.Spacing[2]
	s.eigen = covarianceEigenvalues(centres)
	s.centreShift = r.centreShift(centres)
	for _, v := range r.values {
		s.meanIntensity += v
	}
	s.meanIntensity /= float64(len(r.values))
	s.moranI, s.gearyC = r.autocorrelation()
	return s
}

// position returns the centre of voxel n of the crop, in mm from the crop's
// first voxel.
func (r *roi) position(n int) [3]float64 {
	i, j, k := r.coords(n)
	return [3]float64{float64(i) * r.Spacing[0], float64(j) * r.Spacing[1], float64(k) * r.Spacing[2]}
}

// centreShift is the distance between the centre of the morphological
// mask's voxels and the intensity-weighted centre of the intensity mask's.
func (r *roi) centreShift(centres [][3]float64) float64 {
	var geom, weighted [3]float64
	var total float64
	for _, c := range centres {
		for a := range 3 {
			geom[a] += c[a] / float64(len(centres))
		}
	}
	for n, in := range r.inten {
		if in {
			p := r.position(n)
			for a := range 3 {
				weighted[a] += r.x[n] * p[a]
			}
			total += r.x[n]
		}
	}
	for a := range 3 {
		weighted[a] /= total
	}
	return norm(sub(geom, weighted))
}

// hullCandidates returns the mesh vertices that can be vertices of its
// convex hull. A vertex between two others on a line is not one, and mesh
// vertices lie on grid lines: only the first and last vertex of each line
// along x, y and z can be, and only those that are so along all three
// axes are kept. This leaves a small fraction of a large mesh.
func hullCandidates(m *mesh) [][3]float64 {
	type line struct {
		a     int // axis
		other [2]int32
	}
	ends := map[line][2]int32{} // lowest and highest coordinate on the line
	for _, g := range m.grid {
		for a := range 3 {
			l := line{a, [2]int32{g[(a+1)%3], g[(a+2)%3]}}
			e, ok := ends[l]
			if !ok {
				e = [2]int32{g[a], g[a]}
			}
			ends[l] = [2]int32{min(e[0], g[a]), max(e[1], g[a])}
		}
	}
	var out [][3]float64
	for v, g := range m.grid {
		keep := true
		for a := range 3 {
			e := ends[line{a, [2]int32{g[(a+1)%3], g[(a+2)%3]}}]
			keep = keep && (g[a] == e[0] || g[a] == e[1])
		}
		if keep {
			out = append(out, m.vertices[v])
		}
	}
	return out
}

// diameter returns the largest distance between two of the points listed.
func diameter(points [][3]float64, which []int32) float64 {
	var d2 float64
	for x, a := range which {
		for _, b := range which[x+1:] {
			d2 = max(d2, dot(sub(points[a], points[b]), sub(points[a], points[b])))
		}
	}
	return math.Sqrt(d2)
}

// covarianceEigenvalues returns the eigenvalues of the points' covariance
// matrix (normalised by the number of points), largest first.
func covarianceEigenvalues(points [][3]float64) [3]float64 {
	var mean [3]float64
	n := float64(len(points))
	for _, p := range points {
		for a := range 3 {
			mean[a] += p[a] / n
		}
	}
	var c [3][3]float64
	for _, p := range points {
		d := sub(p, mean)
		for a := range 3 {
			for b := range 3 {
				c[a][b] += d[a] * d[b] / (n - 1)
			}
		}
	}
	ev := symmetricEigenvalues(c)
	sort.Sort(sort.Reverse(sort.Float64Slice(ev[:])))
	return ev
}

// symmetricEigenvalues returns the eigenvalues of a symmetric 3x3 matrix
// by Jacobi rotations.
func symmetricEigenvalues(a [3][3]float64) [3]float64 {
	for range 64 {
		off := a[0][1]*a[0][1] + a[0][2]*a[0][2] + a[1][2]*a[1][2]
		if off <= 1e-30*(a[0][0]*a[0][0]+a[1][1]*a[1][1]+a[2][2]*a[2][2]) {
			break
		}
		for p := range 2 {
			for q := p + 1; q < 3; q++ {
				if a[p][q] == 0 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * a[p][q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := range 3 { // A ← Jᵀ A J, columns then rows
					akp, akq := a[k][p], a[k][q]
					a[k][p], a[k][q] = c*akp-s*akq, s*akp+c*akq
				}
				for k := range 3 {
					apk, aqk := a[p][k], a[q][k]
					a[p][k], a[q][k] = c*apk-s*aqk, s*apk+c*aqk
				}
			}
		}
	}
	return [3]float64{a[0][0], a[1][1], a[2][2]}
}

// ellipsoidArea is IBSI's surface of an ellipsoid of semi-axes a ≥ b ≥ c
// (RDD2): 4πab Σ (αβ)^ν/(1 − 4ν²) P_ν(x), ν = 0..20, with α² = 1 − b²/a²,
// β² = 1 − c²/a² and x = (α² + β²)/(2αβ). The terms (αβ)^ν P_ν(x) follow
// Bonnet's recursion multiplied through by (αβ)^ν, so that an oblate
// spheroid (α = 0) needs no division. This is IBSI's definition, which its
// reference values follow; it is not the true area of every ellipsoid
// (for a prolate spheroid of semi-axes 2, 1.5, 1.5 it gives 31.6 against
// 34.7).
func ellipsoidArea(a, b, c float64) float64 {
	alpha2, beta2 := 1-b*b/(a*a), 1-c*c/(a*a)
	ab := math.Sqrt(alpha2 * beta2)
	half := (alpha2 + beta2) / 2 // αβ·x
	prev, cur := 1.0, half       // (αβ)^ν P_ν for ν = 0, 1
	sum := prev + cur/(1-4)
	for nu := 1; nu < 20; nu++ {
		next := (float64(2*nu+1)*half*cur - float64(nu)*ab*ab*prev) / float64(nu+1)
		prev, cur = cur, next
		sum += cur / (1 - 4*float64((nu+1)*(nu+1)))
	}
	return 4 * math.Pi * a * b * sum
}

// morphFeatures are IBSI's morphological features that have reference
// values (the oriented minimum bounding box and minimum volume enclosing
// ellipsoid densities have none, and IBSI advises against them).
var morphFeatures = []def[*shape]{
	{Definition{"morph.vol", "RNU0", "Volume (mesh)"}, func(s *shape) float64 { return s.volume }},
	{Definition{"morph.approx.vol", "YEKZ", "Volume (voxel counting)"}, func(s *shape) float64 { return s.voxelVolume }},
	{Definition{"morph.area", "C0JK", "Surface area (mesh)"}, func(s *shape) float64 { return s.area }},
	{Definition{"morph.av", "2PR5", "Surface to volume ratio"}, func(s *shape) float64 { return s.area / s.volume }},
	{Definition{"morph.comp.1", "SKGS", "Compactness 1"}, func(s *shape) float64 { return s.volume / (math.Sqrt(math.Pi) * math.Pow(s.area, 1.5)) }},
	{Definition{"morph.comp.2", "BQWJ", "Compactness 2"}, func(s *shape) float64 { return 36 * math.Pi * s.volume * s.volume / (s.area * s.area * s.area) }},
	{Definition{"morph.sph.dispr", "KRCK", "Spherical disproportion"}, func(s *shape) float64 { return s.area / math.Cbrt(36*math.Pi*s.volume*s.volume) }},
	{Definition{"morph.sphericity", "QCFX", "Sphericity"}, func(s *shape) float64 { return math.Cbrt(36*math.Pi*s.volume*s.volume) / s.area }},
	{Definition{"morph.asphericity", "25C7", "Asphericity"}, func(s *shape) float64 {
		return math.Cbrt(s.area*s.area*s.area/(36*math.Pi*s.volume*s.volume)) - 1
	}},
	{Definition{"morph.com", "KLMA", "Centre of mass shift"}, func(s *shape) float64 { return s.centreShift }},
	{Definition{"morph.diam", "L0JK", "Maximum 3D diameter"}, func(s *shape) float64 { return s.diameter }},
	{Definition{"morph.pca.major", "TDIC", "Major axis length"}, func(s *shape) float64 { return 4 * math.Sqrt(s.eigen[0]) }},
	{Definition{"morph.pca.minor", "P9VJ", "Minor axis length"}, func(s *shape) float64 { return 4 * math.Sqrt(s.eigen[1]) }},
	{Definition{"morph.pca.least", "7J51", "Least axis length"}, func(s *shape) float64 { return 4 * math.Sqrt(s.eigen[2]) }},
	{Definition{"morph.pca.elongation", "Q3CK", "Elongation"}, func(s *shape) float64 { return math.Sqrt(s.eigen[1] / s.eigen[0]) }},
	{Definition{"morph.pca.flatness", "N17B", "Flatness"}, func(s *shape) float64 { return math.Sqrt(s.eigen[2] / s.eigen[0]) }},
	{Definition{"morph.v.dens.aabb", "PBX1", "Volume density (axis-aligned bounding box)"}, func(s *shape) float64 { return s.volume / s.aabbVolume }},
	{Definition{"morph.a.dens.aabb", "R59B", "Area density (axis-aligned bounding box)"}, func(s *shape) float64 { return s.area / s.aabbArea }},
	{Definition{"morph.v.dens.aee", "6BDE", "Volume density (approximate enclosing ellipsoid)"}, func(s *shape) float64 {
		a, b, c := s.semiAxes() // c = 0 for an ROI of one plane: undefined
		return ratio(3*s.volume, 4*math.Pi*a*b*c)
	}},
	{Definition{"morph.a.dens.aee", "RDD2", "Area density (approximate enclosing ellipsoid)"}, func(s *shape) float64 {
		return s.area / ellipsoidArea(s.semiAxes())
	}},
	{Definition{"morph.v.dens.conv.hull", "R3ER", "Volume density (convex hull)"}, func(s *shape) float64 { return s.volume / s.hullVolume }},
	{Definition{"morph.a.dens.conv.hull", "7T7F", "Area density (convex hull)"}, func(s *shape) float64 { return s.area / s.hullArea }},
	{Definition{"morph.integ.int", "99N0", "Integrated intensity"}, func(s *shape) float64 { return s.volume * s.meanIntensity }},
	{Definition{"morph.moran.i", "N365", "Moran's I index"}, func(s *shape) float64 { return s.moranI }},
	{Definition{"morph.geary.c", "NPT7", "Geary's C measure"}, func(s *shape) float64 { return s.gearyC }},
}

// semiAxes are the semi-axes 2√λ of the ellipsoid that PCA gives.
func (s *shape) semiAxes() (a, b, c float64) {
	return 2 * math.Sqrt(s.eigen[0]), 2 * math.Sqrt(s.eigen[1]), 2 * math.Sqrt(s.eigen[2])
}

func init() {
	familyTable["morph"] = family{
		defs: func() []Definition { return definitions(morphFeatures) },
		compute: func(r *roi) []Feature {
			return emit(nil, morphFeatures, values(morphFeatures, newShape(r)), "")
		},
	}
}
