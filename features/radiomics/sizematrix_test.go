package radiomics

import (
	"math/rand/v2"
	"testing"
)

// The same size matrix gives the same sums to the last bit however its
// cells were counted: the records of a job redone must not differ.
// Before, the sums followed the map's order, which changes from run to run.
func TestSizeSumsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var cells [][2]int32
	for range 2000 {
		cells = append(cells, [2]int32{rng.Int32N(64) + 1, rng.Int32N(500) + 1})
	}
	want := *matrixOf(cells).sums()
	for range 20 {
		rng.Shuffle(len(cells), func(a, b int) { cells[a], cells[b] = cells[b], cells[a] })
		if got := *matrixOf(cells).sums(); got != want {
			t.Fatalf("sums differ with the order of counting:\n%+v\n%+v", got, want)
		}
	}
}

func matrixOf(cells [][2]int32) *sizeMatrix {
	m := newSizeMatrix()
	for _, c := range cells {
		m.count(c[0], int(c[1]))
	}
	m.voxels = float64(len(cells))
	return m
}
