package kernels

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// kernelArgs holds a kernel's parameters in the form cuLaunchKernel takes
// them: an array of pointers, one to each parameter's value. Every value
// has its own 8-byte slot in one heap block; the driver reads as many bytes
// from a slot as the kernel's parameter has, and on a little-endian machine
// the low bytes come first.
type kernelArgs struct {
	vals []uint64
	ptrs []unsafe.Pointer
}

// packArgs converts kernel parameters. Only types with an unambiguous C
// counterpart are accepted: int32 for int, uint32 for unsigned, int64 for
// long long, float32, devPtr for pointers into device memory and texObject
// for cudaTextureObject_t. A Go int, whose width C does not share, is an
// error rather than a silent truncation.
func packArgs(args ...any) (*kernelArgs, error) {
	a := &kernelArgs{vals: make([]uint64, len(args)), ptrs: make([]unsafe.Pointer, len(args))}
	for i, v := range args {
		switch v := v.(type) {
		case int32:
			a.vals[i] = uint64(uint32(v))
		case uint32:
			a.vals[i] = uint64(v)
		case int64:
			a.vals[i] = uint64(v)
		case float32:
			a.vals[i] = uint64(math.Float32bits(v))
		case devPtr:
			a.vals[i] = uint64(v)
		case texObject:
			a.vals[i] = uint64(v)
		default:
			return nil, fmt.Errorf("kernel argument %d: type %T has no fixed C counterpart", i, v)
		}
		a.ptrs[i] = unsafe.Pointer(&a.vals[i])
	}
	return a, nil
}

// function is a kernel in a loaded module.
type function struct {
	name string
	h    uintptr
}

// launch queues f on stream s. The values and the pointer array are pinned
// for the call: the array holds Go pointers, which C may only see when they
// point to pinned memory.
func (d *device) launch(f function, grid, block [3]uint32, s uintptr, args ...any) error {
	a, err := packArgs(args...)
	if err != nil {
		return fmt.Errorf("launch %s: %w", f.name, err)
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&a.vals[0])
	pin.Pin(&a.ptrs[0])
	r := d.drv.cuLaunchKernel(f.h, grid[0], grid[1], grid[2], block[0], block[1], block[2], 0, s, &a.ptrs[0], nil)
	return d.drv.check(fmt.Sprintf("cuLaunchKernel(%s, grid %v, block %v)", f.name, grid, block), r)
}
