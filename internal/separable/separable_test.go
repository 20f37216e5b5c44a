package separable

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBoxMean compares BoxMean with the mean of each box summed voxel by
// voxel, on random volumes whose boxes reach past the faces on some axes
// (r 0 to 5 on sides of 1 to 7 voxels), on one and three goroutines.
func TestBoxMean(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for try := range 50 {
		dim := [3]int{1 + rng.IntN(7), 1 + rng.IntN(7), 1 + rng.IntN(7)}
		r := [3]int{rng.IntN(6), rng.IntN(6), rng.IntN(6)}
		v := make([]float32, dim[0]*dim[1]*dim[2])
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		for _, threads := range []int{1, 3} {
			got := BoxMean(dim, v, r, threads)
			for i, g := range got {
				if want := bruteBoxMean(dim, v, r, i); math.Abs(float64(g)-want) > 1e-5 {
					t.Fatalf("try %d: dim %v r %v threads %d: voxel %d: %g, want %g", try, dim, r, threads, i, g, want)
				}
			}
		}
	}
}

func bruteBoxMean(dim [3]int, v []float32, r [3]int, i int) float64 {
	x, y, z := i%dim[0], i/dim[0]%dim[1], i/(dim[0]*dim[1])
	sum, n := 0.0, 0
	for c := max(0, z-r[2]); c <= min(dim[2]-1, z+r[2]); c++ {
		for b := max(0, y-r[1]); b <= min(dim[1]-1, y+r[1]); b++ {
			for a := max(0, x-r[0]); a <= min(dim[0]-1, x+r[0]); a++ {
				sum += float64(v[a+dim[0]*(b+dim[1]*c)])
				n++
			}
		}
	}
	return sum / float64(n)
}

// TestLines: every voxel lies on exactly one line along each axis, a
// line's voxels follow its step, and the line buffer holds their values.
func TestLines(t *testing.T) {
	dim := [3]int{3, 4, 5}
	v := make([]float32, 60)
	for i := range v {
		v[i] = float32(i)
	}
	for axis := range 3 {
		seen := make([]int, 60)
		Lines(dim, axis, 2, v, func(line []float64, start, step int) {
			for i := range dim[axis] {
				if line[i] != float64(v[start+i*step]) {
					t.Errorf("axis %d: line from %d: element %d is %g, the voxel %g", axis, start, i, line[i], v[start+i*step])
				}
				seen[start+i*step]++ // lines are disjoint: no two goroutines write one element
			}
		})
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("axis %d: voxel %d on %d lines, want 1", axis, i, n)
			}
		}
	}
}

// BenchmarkBoxMean times a box mean of half-width 2 over 256³ voxels.
func BenchmarkBoxMean(b *testing.B) {
	dim := [3]int{256, 256, 256}
	v := make([]float32, dim[0]*dim[1]*dim[2])
	for i := range v {
		v[i] = float32(i % 7)
	}
	for b.Loop() {
		BoxMean(dim, v, [3]int{2, 2, 2}, 2)
	}
}
