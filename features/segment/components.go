package segment

import (
	"runtime"

	"github.com/ctrecon/ctrecon/internal/parallel"
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

// components labels the connected components of each class in class (0 is
// no class): it returns per voxel the component's number, from 1 in the
// order of each component's first voxel (x fastest), 0 for none, and the
// class of each component.
func components(class []uint8, dim [3]int, connectivity int) ([]int32, []uint8) {
	comp := make([]int32, len(class))
	offsets := neighbours(connectivity)
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
			for _, d := range offsets {
				i, j, k := x+d[0], y+d[1], z+d[2]
				if i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= dim[2] {
					continue
				}
				n := i + nx*(j+ny*k)
				if class[n] == c && comp[n] == 0 {
					comp[n] = id
					stack = append(stack, n)
				}
			}
		}
	}
	return comp, classOf
}

// eroded returns which voxels survive r erosions of their class by the
// 6-connected cross: a voxel survives a step when it and its 6 face
// neighbours survived the last one in the same class (outside the grid
// counts as another class).
func eroded(class []uint8, dim [3]int, r int) []bool {
	in := make([]bool, len(class))
	for i, c := range class {
		in[i] = c != 0
	}
	out := make([]bool, len(class))
	nx, ny, nz := dim[0], dim[1], dim[2]
	offsets := neighbours(6)
	for range r {
		parallel.For(nz, runtime.GOMAXPROCS(0), func(k int) {
			for j := range ny {
				for i := range nx {
					v := i + nx*(j+ny*k)
					keep := in[v]
					for _, d := range offsets {
						a, b, c := i+d[0], j+d[1], k+d[2]
						if !keep {
							break
						}
						keep = a >= 0 && b >= 0 && c >= 0 && a < nx && b < ny && c < nz && in[a+nx*(b+ny*c)] && class[a+nx*(b+ny*c)] == class[v]
					}
					out[v] = keep
				}
			}
		})
		in, out = out, in
	}
	return in
}
