package sinogram

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// estimateRings averages a bin's line integrals over all views and derives
// the ring offsets from the mean.
func (p *Preprocessor) estimateRings(bin int) ([]float32, error) {
	g := &p.scan.Geometry
	var mu sync.Mutex
	total := make([]float64, g.Pixels())
	var failed atomic.Pointer[error]
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(p.opts.Threads, p.scan.Views) {
		wg.Go(func() {
			local := make([]float64, g.Pixels())
			for v := int(next.Add(1) - 1); v < p.scan.Views && failed.Load() == nil; v = int(next.Add(1) - 1) {
				img, _, err := p.lineIntegrals(v, bin)
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				for i, x := range img {
					local[i] += float64(x)
				}
			}
			mu.Lock()
			for i, x := range local {
				total[i] += x
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if e := failed.Load(); e != nil {
		return nil, fmt.Errorf("ring correction of bin %d: %w", bin, *e)
	}
	mean := make([]float32, len(total))
	for i, x := range total {
		mean[i] = float32(x / float64(p.scan.Views))
	}
	return RingOffsets(mean, g.Cols, g.Rows, p.opts.RingWidth)
}

// RingOffsets estimates each detector pixel's constant offset from mean, the
// average of a bin's line integrals over all views (row-major, cols by
// rows): the difference between mean and a robust local fit of it along the
// row over width pixels (the ring correction of B. Rivers, 1998, made
// robust). An object's projection averaged over a full rotation is smooth,
// so what stays is the pixel's own error, which would reconstruct as a
// ring.
//
// The fit at column c is the median of the window's values after removing
// its slope, the slope being the difference of the medians of the window's
// left and right halves over their distance: a plain median would, on a
// sloping profile, shift by one rank for each offset pixel in the window and
// leak a step of the slope into the neighbours. Structures narrower than
// width on the rotation axis are attenuated too, which is why the correction
// is off by default. Within width/2 of a row's ends the window shrinks to
// stay centred; the end pixels get no correction.
func RingOffsets(mean []float32, cols, rows, width int) ([]float32, error) {
	if len(mean) != cols*rows || cols < 1 {
		return nil, fmt.Errorf("ring offsets: %d values for %dx%d pixels", len(mean), cols, rows)
	}
	if width < 3 {
		return nil, fmt.Errorf("ring offsets: width %d must be at least 3", width)
	}
	h := width / 2
	out := make([]float32, len(mean))
	win := make([]float64, 0, 2*h+1)
	for r := range rows {
		row := mean[r*cols : (r+1)*cols]
		for c := range cols {
			k := min(h, c, cols-1-c)
			if k == 0 {
				continue
			}
			win = win[:0]
			for j := c - k; j < c; j++ {
				win = append(win, float64(row[j]))
			}
			left := median(win)
			win = win[:0]
			for j := c + 1; j <= c+k; j++ {
				win = append(win, float64(row[j]))
			}
			slope := (median(win) - left) / float64(k+1)
			win = win[:0]
			for j := c - k; j <= c+k; j++ {
				win = append(win, float64(row[j])-slope*float64(j-c))
			}
			out[r*cols+c] = row[c] - float32(median(win))
		}
	}
	return out, nil
}

// CorrectRings applies the ring correction to a bin's line integrals in
// place: views[v] is view v's row-major cols x rows image. See RingOffsets.
func CorrectRings(views [][]float32, cols, rows, width int) error {
	if len(views) == 0 {
		return fmt.Errorf("ring correction: no views")
	}
	mean := make([]float64, cols*rows)
	for v, img := range views {
		if len(img) != cols*rows {
			return fmt.Errorf("ring correction: view %d has %d pixels, want %dx%d", v, len(img), cols, rows)
		}
		for i, x := range img {
			mean[i] += float64(x)
		}
	}
	m32 := make([]float32, len(mean))
	for i, x := range mean {
		m32[i] = float32(x / float64(len(views)))
	}
	off, err := RingOffsets(m32, cols, rows, width)
	if err != nil {
		return err
	}
	for _, img := range views {
		for i, o := range off {
			img[i] -= o
		}
	}
	return nil
}
