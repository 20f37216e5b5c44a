package radiomics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMeshClosed checks marching cubes on random masks, whose cubes meet
// every one of the 256 cases: each directed edge of a triangle is met once
// the other way round by a neighbouring triangle, so the surface is closed
// and consistently oriented, and the enclosed volume is positive.
func TestMeshClosed(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cases := map[int]bool{}
	for trial := range 20 {
		g := Grid{Size: [3]int{6, 5, 4}, Spacing: [3]float64{1, 1.5, 2}}
		mask := make([]bool, g.Voxels())
		for k := range mask {
			mask[k] = rng.Float64() < 0.5
		}
		for k := 0; k+g.index(1, 1, 1) < len(mask); k++ {
			c := 0
			for corner := range 8 {
				if mask[k+g.index(corner&1, corner>>1&1, corner>>2&1)] {
					c |= 1 << corner
				}
			}
			cases[c] = true
		}
		m := newMesh(mask, g)
		edges := map[[2]int32]int{}
		for _, tri := range m.triangles {
			for k := range 3 {
				edges[[2]int32{tri[k], tri[(k+1)%3]}]++
			}
		}
		for e, n := range edges {
			if n != 1 || edges[[2]int32{e[1], e[0]}] != 1 {
				t.Fatalf("trial %d: edge %v is used %d times, its reverse %d", trial, e, n, edges[[2]int32{e[1], e[0]}])
			}
		}
		if v, _ := volumeArea(m.vertices, m.triangles); !(v > 0) {
			t.Fatalf("trial %d: volume %v", trial, v)
		}
	}
	if len(cases) < 200 {
		t.Errorf("only %d of the 256 cube cases met", len(cases))
	}
}

// TestMeshSphere checks the mesh of a digitised ball of radius 12 mm on a
// grid of 1 × 1 × 1.5 mm: volume within 2 % of the sphere's, area within
// 10 % above it (marching cubes on a binary mask follows the staircase:
// 8.7 % here), the maximum diameter within a voxel of 24 mm, and the
// shape measures near a sphere's.
func TestMeshSphere(t *testing.T) {
	const radius = 12.0
	g := Grid{Size: [3]int{31, 31, 21}, Spacing: [3]float64{1, 1, 1.5}}
	img := &Image{Grid: g, Data: make([]float64, g.Voxels())}
	mask := &Mask{Grid: g, Data: make([]bool, g.Voxels())}
	for n := range mask.Data {
		i, j, k := g.coords(n)
		mask.Data[n] = sq(float64(i-15))+sq(float64(j-15))+sq(1.5*float64(k-10)) <= radius*radius
	}
	s := MustPreset("ibsi-phantom")
	s.Families = []string{"morph"}
	feats, err := Compute(img, mask, s)
	if err != nil {
		t.Fatal(err)
	}
	v := byTag(feats)
	for _, c := range []struct {
		tag  string
		want float64
		tol  float64
	}{
		{"morph.vol|", 4.0 / 3 * math.Pi * radius * radius * radius, 0.02},
		{"morph.area|", 4 * math.Pi * radius * radius * 1.05, 0.05},
		{"morph.diam|", 2 * radius, 1.5 / (2 * radius)},
		{"morph.sphericity|", 0.95, 0.05},
		{"morph.v.dens.conv.hull|", 0.95, 0.05},
		{"morph.pca.elongation|", 1, 0.01},
	} {
		if got := v[c.tag]; math.Abs(got-c.want) > c.tol*c.want {
			t.Errorf("%s = %v, want %v within %v %%", c.tag, got, c.want, 100*c.tol)
		}
	}
}

// TestConvexHull checks the hull of a cube's corners with points inside
// and on its faces (all coplanar in fours or more), and that random
// points all lie inside the hull of their candidates.
func TestConvexHull(t *testing.T) {
	var pts [][3]float64
	for x := 0.0; x <= 2; x++ {
		for y := 0.0; y <= 2; y++ {
			for z := 0.0; z <= 2; z++ {
				pts = append(pts, [3]float64{3 * x, 3 * y, 3 * z})
			}
		}
	}
	tris := convexHull(pts)
	v, a := volumeArea(pts, tris)
	if math.Abs(v-216) > 1e-9 || math.Abs(a-216) > 1e-9 {
		t.Errorf("cube of side 6: volume %v, area %v, want 216 and 216", v, a)
	}
	if convexHull(pts[:9]) != nil { // the x = 0 face only
		t.Error("a hull of coplanar points")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	pts = pts[:0]
	for range 500 {
		pts = append(pts, [3]float64{rng.NormFloat64(), rng.NormFloat64(), 2 * rng.NormFloat64()})
	}
	tris = convexHull(pts)
	for _, tri := range tris {
		n := cross(sub(pts[tri[1]], pts[tri[0]]), sub(pts[tri[2]], pts[tri[0]]))
		for k, p := range pts {
			if d := dot(n, sub(p, pts[tri[0]])) / norm(n); d > 1e-5 {
				t.Fatalf("point %d is %v outside face %v", k, d, tri)
			}
		}
	}
}

// TestEllipsoidArea checks IBSI's Legendre series (RDD2) against a sphere,
// and against the series summed with explicit Legendre polynomials for an
// ellipsoid and for the oblate spheroid (αβ = 0), where the recursion
// must not divide by αβ.
func TestEllipsoidArea(t *testing.T) {
	if got, want := ellipsoidArea(3, 3, 3), 4*math.Pi*9; math.Abs(got-want) > 1e-12*want {
		t.Errorf("sphere: %v, want %v", got, want)
	}
	legendre := func(n int, x float64) float64 {
		p0, p1 := 1.0, x
		if n == 0 {
			return p0
		}
		for k := 1; k < n; k++ {
			p0, p1 = p1, (float64(2*k+1)*x*p1-float64(k)*p0)/float64(k+1)
		}
		return p1
	}
	series := func(a, b, c float64) float64 {
		alpha, beta := math.Sqrt(1-b*b/(a*a)), math.Sqrt(1-c*c/(a*a))
		var sum float64
		for nu := range 21 {
			sum += math.Pow(alpha*beta, float64(nu)) / (1 - 4*float64(nu*nu)) * legendre(nu, (alpha*alpha+beta*beta)/(2*alpha*beta))
		}
		return 4 * math.Pi * a * b * sum
	}
	for _, axes := range [][3]float64{{2, 1.5, 1.5}, {5, 3, 2}, {4, 3.9, 1}} {
		if got, want := ellipsoidArea(axes[0], axes[1], axes[2]), series(axes[0], axes[1], axes[2]); math.Abs(got-want) > 1e-9*want {
			t.Errorf("semi-axes %v: %v, want %v", axes, got, want)
		}
	}
	// Oblate: the limit of a slightly prolate-in-b ellipsoid.
	if got, want := ellipsoidArea(2, 2, 1.5), series(2, 2-1e-7, 1.5); math.Abs(got-want) > 1e-6*want {
		t.Errorf("oblate spheroid: %v, want %v", got, want)
	}
}
