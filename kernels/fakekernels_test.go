package kernels

import (
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// The fake GPU's kernels: Go transcriptions of backproject.cu and
// filter.cu that follow the kernels line by line, tiling included. The
// texture fetch is exact bilinear interpolation with a zero border; the
// hardware's 8-bit weights are the GPU tests' business.

// kernelParams returns the number of parameters of a kernel.
func kernelParams(name string) int {
	if strings.HasPrefix(name, "rampFilter") {
		return 12
	}
	return 11
}

// kernelArg reads parameter p of a launch as the C type of T.
func kernelArg[T any](p unsafe.Pointer) T { return *(*T)(p) }

// launch checks a kernel's accesses on timeline tl and runs it.
func (g *fakeGPU) launch(f fakeFunc, grid, block [3]uint32, tl int, args []unsafe.Pointer) cuResult {
	name := f.name
	var bins, vpt, tile, rows int
	switch {
	case scan(name, "backproject_b%d_z%d", &bins, &vpt):
		if len(f.module.globals) == 0 {
			g.violate("%s: its module has no matrices", name)
			return cuErrInvalidValue
		}
		return g.backproject(name, f.module.globals[0], bins, vpt, grid, block, tl, args)
	case scan(name, "rampFilter_t%d_r%d", &tile, &rows):
		return g.rampFilter(name, tile, rows, grid, block, tl, args)
	}
	g.violate("launch of unknown kernel %q", name)
	return cuErrNotFound
}

// backproject runs backproject_bB_zV.
func (g *fakeGPU) backproject(name string, mats *fakeBuf, bins, vpt int, grid, block [3]uint32, tl int, args []unsafe.Pointer) cuResult {
	volPtr, binStride := kernelArg[devPtr](args[0]), int(kernelArg[int64](args[1]))
	arr := g.textures[kernelArg[texObject](args[2])]
	slot, views, layersPerView, firstLayer := int(kernelArg[int32](args[3])), int(kernelArg[int32](args[4])), int(kernelArg[int32](args[5])), int(kernelArg[int32](args[6]))
	nx, ny, nz, accumulate := int(kernelArg[int32](args[7])), int(kernelArg[int32](args[8])), int(kernelArg[int32](args[9])), kernelArg[int32](args[10]) != 0
	span := int64(4 * ((bins-1)*binStride + nx*ny*nz))
	vol, off := g.buffer(volPtr, span)
	switch {
	case arr == nil || vol == nil:
		g.violate("%s: unknown texture, volume or matrices", name)
		return cuErrInvalidValue
	case block[0]*block[1]*block[2] > maxThreads || int(grid[0]*block[0]) < nx || int(grid[1]*block[1]) < ny || int(grid[2])*vpt < nz:
		g.violate("%s: grid %v of blocks %v does not cover %dx%dx%d voxels", name, grid, block, nx, ny, nz)
	case views < 1 || views > maxProjPerLaunch || (views-1)*layersPerView+firstLayer+bins > arr.layers:
		g.violate("%s: %d views of %d layers from layer %d exceed %s's %d layers", name, views, layersPerView, firstLayer, arr.name, arr.layers)
		return cuErrInvalidValue
	}
	lo := int64(slot * maxProjPerLaunch * 48)
	g.touch(&mats.tracked, lo, lo+int64(views*48), false, tl, name)
	m := mats.data[lo/4:]
	layer := int64(4 * arr.w * arr.h)
	g.touch(&arr.tracked, int64(firstLayer)*layer, int64((views-1)*layersPerView+firstLayer+bins)*layer, false, tl, name)
	for b := range bins {
		lo := off + int64(4*b*binStride)
		if accumulate {
			g.touch(&vol.tracked, lo, lo+int64(4*nx*ny*nz), false, tl, name)
		}
		g.touch(&vol.tracked, lo, lo+int64(4*nx*ny*nz), true, tl, name)
	}
	out := vol.data[off/4:]
	for z0 := 0; z0 < nz; z0 += vpt {
		for y := range ny {
			for x := range nx {
				sum := make([]float32, vpt*bins)
				for i := range views {
					backprojectView(arr, m[12*i:12*i+12], x, y, z0, i*layersPerView+firstLayer, bins, sum)
				}
				for k := range vpt {
					if z0+k >= nz {
						break
					}
					for b := range bins {
						q := &out[b*binStride+((z0+k)*ny+y)*nx+x]
						if accumulate {
							*q += sum[k*bins+b]
						} else {
							*q = sum[k*bins+b]
						}
					}
				}
			}
		}
	}
	return 0
}

// backprojectView adds one view's contribution to the column of voxels
// z0.. at (x, y), for each bin, as the kernel's inner loop does.
func backprojectView(arr *fakeArray, m []float32, x, y, z0, layer, bins int, sum []float32) {
	vpt := len(sum) / bins
	s0 := m[0]*float32(x) + m[1]*float32(y) + m[3]
	t0 := m[4]*float32(x) + m[5]*float32(y) + m[7]
	w0 := m[8]*float32(x) + m[9]*float32(y) + m[11]
	for k := range vpt {
		fz := float32(z0 + k)
		w := m[10]*fz + w0
		iw := float32(0)
		if w > 0 {
			iw = 1 / w
		}
		s, t := (m[2]*fz+s0)*iw, (m[6]*fz+t0)*iw
		for b := range bins {
			sum[k*bins+b] += iw * iw * arr.fetch(s, t, layer+b)
		}
	}
}

// fetch is a bilinear texture fetch at texel coordinates (s, t) of a
// layer, reading zero beyond the border.
func (a *fakeArray) fetch(s, t float32, layer int) float32 {
	x, y := float64(s)-0.5, float64(t)-0.5
	i, j := int(math.Floor(x)), int(math.Floor(y))
	fx, fy := float32(x-float64(i)), float32(y-float64(j))
	at := func(i, j int) float32 {
		if i < 0 || j < 0 || i >= a.w || j >= a.h {
			return 0
		}
		return a.data[(layer*a.h+j)*a.w+i]
	}
	top := at(i, j) + fx*(at(i+1, j)-at(i, j))
	bot := at(i, j+1) + fx*(at(i+1, j+1)-at(i, j+1))
	return top + fy*(bot-top)
}

// rampFilter runs rampFilter_tT_rR.
func (g *fakeGPU) rampFilter(name string, tile, rowsPerBlock int, grid, block [3]uint32, tl int, args []unsafe.Pointer) cuResult {
	ptr := func(i int) devPtr { return kernelArg[devPtr](args[i]) }
	i32 := func(i int) int { return int(kernelArg[int32](args[i])) }
	inCols, outCols, rows, images, bins, padLeft, row0 := i32(5), i32(6), i32(7), i32(8), i32(9), i32(10), i32(11)
	lines := images * rows
	bufs := make([][]float32, 5)
	for i, r := range []struct {
		lo, hi int64
		write  bool
	}{
		{0, int64(4 * lines * outCols), true},
		{0, int64(4 * lines * inCols), false},
		{int64(4 * row0 * inCols), int64(4 * (row0 + rows) * inCols), false},
		{0, int64(4 * ((images-1)/bins + 1) * inCols), false},
		{0, int64(4 * (2*outCols - 1)), false},
	} {
		b, off := g.buffer(ptr(i), r.hi)
		if b == nil {
			g.violate("%s: parameter %d: %d bytes at %#x outside any allocation", name, i, r.hi, ptr(i))
			return cuErrInvalidValue
		}
		g.touch(&b.tracked, off+r.lo, off+r.hi, r.write, tl, name)
		bufs[i] = b.data[off/4:]
	}
	if block != [3]uint32{uint32(tile), 1, 1} || int(grid[0]) < ceilDiv(outCols, tile) || int(grid[1]) < ceilDiv(lines, rowsPerBlock) {
		g.violate("%s: grid %v of blocks %v does not cover %d rows of %d", name, grid, block, lines, outCols)
	}
	out, in, pix, col, taps := bufs[0], bufs[1], bufs[2], bufs[3], bufs[4]
	for bx := range ceilDiv(outCols, tile) {
		for by := range ceilDiv(lines, rowsPerBlock) {
			i0, line0 := bx*tile, by*rowsPerBlock
			chunk := make([]float32, rowsPerBlock*tile)
			tap := make([]float32, 2*tile)
			acc := make([]float32, tile*rowsPerBlock)
			for j0 := 0; j0 < inCols; j0 += tile {
				for tid := range tile {
					j := j0 + tid
					for r := range rowsPerBlock {
						line := line0 + r
						v := float32(0)
						if line < lines && j < inCols {
							img, row := line/rows, line%rows
							v = in[line*inCols+j] * pix[(row0+row)*inCols+j] * col[(img/bins)*inCols+j]
						}
						chunk[r*tile+tid] = v
					}
					dBase := i0 - padLeft - j0 - (tile - 1)
					for q := tid; q < 2*tile-1; q += tile {
						d := dBase + q
						tap[q] = 0
						if d > -outCols && d < outCols {
							tap[q] = taps[d+outCols-1]
						}
					}
				}
				for tid := range tile {
					for jj := 0; jj < tile; jj += 4 {
						h := tile - 1 + tid - jj
						for r := range rowsPerBlock {
							v := chunk[r*tile+jj:]
							acc[tid*rowsPerBlock+r] += v[0]*tap[h] + v[1]*tap[h-1] + v[2]*tap[h-2] + v[3]*tap[h-3]
						}
					}
				}
			}
			for tid := range tile {
				if i := i0 + tid; i < outCols {
					for r := range rowsPerBlock {
						if line0+r < lines {
							out[(line0+r)*outCols+i] = acc[tid*rowsPerBlock+r]
						}
					}
				}
			}
		}
	}
	return 0
}

// scan reads a kernel's two template parameters from its name.
func scan(name, format string, a, b *int) bool {
	n, err := fmt.Sscanf(name, format, a, b)
	return err == nil && n == 2
}
