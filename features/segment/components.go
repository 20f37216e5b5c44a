package segment

import (
	"runtime"

	"github.com/ctrecon/ctrecon/internal/parallel"
)

// components labels the connected components of each class in class (0 is
// no class): it returns per voxel the component's number, from 1 in the
// order of each component's first voxel (x fastest), 0 for none, and the
// class of each component.
//
// It joins runs, not voxels: the runs of one class along x in each row,
// joined (union-find) with those of the same class they touch in the
// rows before (the row before in the slice and the row in the slice
// before; with 26-connectivity also the rows beside that one, and runs
// that touch at a corner), numbered in the order of their first run.
func components(class []uint8, dim [3]int, connectivity int) ([]int32, []uint8) {
	nx, ny, nz := dim[0], dim[1], dim[2]
	rs := runSet{start: make([]int, ny*nz+1)}
	for r := range ny * nz {
		rs.start[r] = len(rs.runs)
		rs.addRow(class[r*nx : (r+1)*nx])
	}
	rs.start[ny*nz] = len(rs.runs)
	// The rows before a row that its runs can touch, as (dy, dz).
	before := [][2]int{{-1, 0}, {0, -1}}
	reach := 0 // how far beyond its ends a run touches another
	if connectivity == 26 {
		before = [][2]int{{-1, 0}, {-1, -1}, {0, -1}, {1, -1}}
		reach = 1
	}
	for k := range nz {
		for j := range ny {
			for _, d := range before {
				if b, c := j+d[0], k+d[1]; b >= 0 && c >= 0 && b < ny {
					rs.join(j+ny*k, b+ny*c, reach)
				}
			}
		}
	}
	comp := make([]int32, len(class))
	label := make([]int32, len(rs.runs))
	var classOf []uint8
	for r := range ny * nz {
		for n := rs.start[r]; n < rs.start[r+1]; n++ {
			root, run := rs.find(n), rs.runs[n]
			if label[root] == 0 {
				classOf = append(classOf, run.class)
				label[root] = int32(len(classOf))
			}
			row := comp[r*nx : (r+1)*nx]
			for x := run.lo; x < run.hi; x++ {
				row[x] = label[root]
			}
		}
	}
	return comp, classOf
}

// run is voxels lo to hi (exclusive) along x of one row, of one class.
type run struct {
	lo, hi int32
	class  uint8
}

// runSet is a volume's runs, row by row in array order, with their
// union-find forest: following parent from a run leads to its component's
// root, the component's first run.
type runSet struct {
	runs   []run
	parent []int32
	// start[r] is the first of row r's runs (row j + ny k), start[r+1]
	// the first of the next row's.
	start []int
}

// addRow appends the runs of one row's classes.
func (rs *runSet) addRow(row []uint8) {
	for i := 0; i < len(row); {
		c := row[i]
		j := i + 1
		for j < len(row) && row[j] == c {
			j++
		}
		if c != 0 {
			rs.runs = append(rs.runs, run{lo: int32(i), hi: int32(j), class: c})
			rs.parent = append(rs.parent, int32(len(rs.parent)))
		}
		i = j
	}
}

// join unites the runs of rows a and b that have the same class and
// overlap along x, or come within reach voxels of it.
func (rs *runSet) join(a, b, reach int) {
	m, bEnd := rs.start[b], rs.start[b+1]
	for n := rs.start[a]; n < rs.start[a+1]; n++ {
		x := rs.runs[n]
		for m < bEnd && int(rs.runs[m].hi)+reach <= int(x.lo) {
			m++
		}
		for o := m; o < bEnd && int(rs.runs[o].lo)-reach < int(x.hi); o++ {
			if rs.runs[o].class == x.class {
				rs.union(n, o)
			}
		}
	}
}

// find returns the root of run n, halving the path to it.
func (rs *runSet) find(n int) int {
	p := rs.parent
	for int(p[n]) != n {
		p[n] = p[p[n]]
		n = int(p[n])
	}
	return n
}

// union joins the trees of runs a and b under the first of their roots,
// so that a component's root stays its first run.
func (rs *runSet) union(a, b int) {
	ra, rb := rs.find(a), rs.find(b)
	if ra > rb {
		ra, rb = rb, ra
	}
	rs.parent[rb] = int32(ra)
}

// eroded returns which voxels survive r erosions of their class by the
// 6-connected cross: a voxel survives a step when it and its 6 face
// neighbours survived the last one in the same class (outside the grid
// counts as another class, so no voxel on the grid's faces survives).
// The classes are a classification's codes or a segmentation's map.
func eroded[T uint8 | int32](class []T, dim [3]int, r int) []bool {
	in := make([]bool, len(class))
	for i, c := range class {
		in[i] = c != 0
	}
	out := make([]bool, len(class))
	nx, ny, nz := dim[0], dim[1], dim[2]
	plane := nx * ny
	steps := [6]int{-1, 1, -nx, nx, -plane, plane}
	for range r {
		parallel.For(nz, runtime.GOMAXPROCS(0), func(k int) {
			inner := k > 0 && k < nz-1
			for j := range ny {
				inner := inner && j > 0 && j < ny-1
				for i, v := 0, (j+ny*k)*nx; i < nx; i, v = i+1, v+1 {
					keep := inner && in[v] && i > 0 && i < nx-1
					for _, d := range steps {
						if !keep {
							break
						}
						keep = in[v+d] && class[v+d] == class[v]
					}
					out[v] = keep
				}
			}
		})
		in, out = out, in
	}
	return in
}
