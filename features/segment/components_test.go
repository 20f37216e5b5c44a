package segment

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// neighbours returns the offsets of a voxel's 6 face neighbours, or of all
// 26 face, edge and corner neighbours.
func neighbours(connectivity int) [][3]int {
	var out [][3]int
	for dz := -1; dz <= 1; dz++ {
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				n := dx*dx + dy*dy + dz*dz
				if n == 1 || (connectivity == 26 && n > 0) {
					out = append(out, [3]int{dx, dy, dz})
				}
			}
		}
	}
	return out
}

// floodComponents is components by flood fill, voxel by voxel (the code
// before the run-based labelling): the reference TestComponents compares
// with.
func floodComponents(class []uint8, dim [3]int, connectivity int) ([]int32, []uint8) {
	comp := make([]int32, len(class))
	var classOf []uint8
	var stack []int
	nx, ny := dim[0], dim[1]
	for seed, c := range class {
		if c == 0 || comp[seed] != 0 {
			continue
		}
		classOf = append(classOf, c)
		id := int32(len(classOf))
		comp[seed] = id
		stack = append(stack[:0], seed)
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y, z := v%nx, v/nx%ny, v/(nx*ny)
			for _, d := range neighbours(connectivity) {
				i, j, k := x+d[0], y+d[1], z+d[2]
				if i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= dim[2] {
					continue
				}
				if n := i + nx*(j+ny*k); class[n] == c && comp[n] == 0 {
					comp[n] = id
					stack = append(stack, n)
				}
			}
		}
	}
	return comp, classOf
}

// TestComponents checks the run-based labelling against the flood fill on
// random volumes of 3 classes and none, sparse and dense (many runs that
// touch at edges and corners, U shapes whose arms join later), with 6-
// and 26-connectivity: the same numbers for every voxel and the same
// classes.
func TestComponents(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dim := range [][3]int{{1, 1, 1}, {7, 1, 1}, {1, 9, 1}, {1, 1, 8}, {13, 11, 9}, {32, 5, 17}} {
		for _, fill := range []float64{0.2, 0.5, 0.9} {
			class := make([]uint8, dim[0]*dim[1]*dim[2])
			for i := range class {
				if rng.Float64() < fill {
					class[i] = uint8(1 + rng.IntN(3))
				}
			}
			for _, conn := range []int{6, 26} {
				got, gotClass := components(class, dim, conn)
				want, wantClass := floodComponents(class, dim, conn)
				if !slices.Equal(got, want) || !slices.Equal(gotClass, wantClass) {
					t.Errorf("%v, fill %g, %d-connected: %d components, want %d", dim, fill, conn, len(gotClass), len(wantClass))
				}
			}
		}
	}
}

// erodedByBall is eroded by its closed form, the reference TestEroded
// compares with: r erosions by the 6-connected cross keep a voxel when
// every voxel within city-block distance r of it lies in the grid and has
// its class (not 0).
func erodedByBall(class []uint8, dim [3]int, r int) []bool {
	out := make([]bool, len(class))
	for v, c := range class {
		x, y, z := v%dim[0], v/dim[0]%dim[1], v/(dim[0]*dim[1])
		keep := c != 0
		for dz := -r; dz <= r && keep; dz++ {
			for dy := -r; dy <= r && keep; dy++ {
				for dx := -r; dx <= r && keep; dx++ {
					if abs(dx)+abs(dy)+abs(dz) > r {
						continue
					}
					i, j, k := x+dx, y+dy, z+dz
					keep = i >= 0 && j >= 0 && k >= 0 && i < dim[0] && j < dim[1] && k < dim[2] && class[i+dim[0]*(j+dim[1]*k)] == c
				}
			}
		}
		out[v] = keep
	}
	return out
}

func abs(a int) int { return max(a, -a) }

// TestEroded checks eroded against erodedByBall on random volumes of
// blocks of 2 classes and none, for 1 to 3 erosions.
func TestEroded(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dim := range [][3]int{{1, 1, 1}, {3, 3, 3}, {9, 1, 7}, {14, 12, 10}} {
		class := make([]uint8, dim[0]*dim[1]*dim[2])
		for i := range class {
			class[i] = uint8(i / 5 % 3) // runs of 5 along x, so that some voxels survive
			if rng.Float64() < 0.05 {
				class[i] = uint8(rng.IntN(3))
			}
		}
		for r := 1; r <= 3; r++ {
			if got, want := eroded(class, dim, r), erodedByBall(class, dim, r); !slices.Equal(got, want) {
				t.Errorf("%v, %d erosions: differ from the reference", dim, r)
			}
		}
	}
}
