package sinogram

import (
	"fmt"
	"slices"
)

// fillInvalid fills the pixels of img that are not valid:
//
//  1. along rows: a run of invalid pixels with valid pixels on both sides is
//     interpolated linearly between them (chip gap columns, bad pixels);
//  2. along columns, the same for what is left, taking the pixels filled in
//     step 1 as valid (gap rows between chip rows, where a whole row is
//     empty); a run at a column's end takes its nearest value;
//  3. what is still empty (columns with no valid pixel at a row's end)
//     takes the nearest value along its row.
//
// It fails only when no pixel is valid.
func fillInvalid(img []float32, valid []bool, cols, rows int) error {
	if !slices.Contains(valid, true) {
		return fmt.Errorf("no valid pixel on the detector: every pixel is bad or saturated")
	}
	ok := slices.Clone(valid)
	// 1. rows, interior runs only.
	for r := range rows {
		fillRuns(img[r*cols:(r+1)*cols], valid[r*cols:(r+1)*cols], ok[r*cols:(r+1)*cols], 1, cols, false)
	}
	// 2. columns, with ends.
	col := make([]float32, rows)
	vcol := make([]bool, rows)
	okcol := make([]bool, rows)
	for c := range cols {
		need := false
		for r := range rows {
			col[r], vcol[r] = img[r*cols+c], ok[r*cols+c]
			okcol[r] = vcol[r]
			need = need || !vcol[r]
		}
		if !need || !slices.Contains(vcol, true) {
			continue
		}
		fillRuns(col, vcol, okcol, 1, rows, true)
		for r := range rows {
			img[r*cols+c], ok[r*cols+c] = col[r], okcol[r]
		}
	}
	// 3. rows again, with ends.
	for r := range rows {
		row := ok[r*cols : (r+1)*cols]
		if slices.Contains(row, false) && slices.Contains(row, true) {
			src := slices.Clone(row)
			fillRuns(img[r*cols:(r+1)*cols], src, row, 1, cols, true)
		}
	}
	if slices.Contains(ok, false) {
		// Rows with nothing valid after the column pass cannot exist (every
		// column with a valid pixel was filled whole); keep the guard.
		return fmt.Errorf("could not fill every empty pixel")
	}
	return nil
}

// fillRuns interpolates the runs of v (n values at stride) where src is
// false, between the nearest src-true neighbours, marking them in done;
// with ends, runs touching an end copy their one neighbour.
func fillRuns(v []float32, src, done []bool, stride, n int, ends bool) {
	i := 0
	for i < n {
		if src[i*stride] {
			i++
			continue
		}
		j := i
		for j < n && !src[j*stride] {
			j++
		}
		// Invalid run [i, j).
		switch {
		case i > 0 && j < n:
			a, b := float64(v[(i-1)*stride]), float64(v[j*stride])
			for k := i; k < j; k++ {
				t := float64(k-i+1) / float64(j-i+1)
				v[k*stride] = float32(a + t*(b-a))
				done[k*stride] = true
			}
		case ends && i > 0:
			for k := i; k < j; k++ {
				v[k*stride], done[k*stride] = v[(i-1)*stride], true
			}
		case ends && j < n:
			for k := i; k < j; k++ {
				v[k*stride], done[k*stride] = v[j*stride], true
			}
		}
		i = j
	}
}
