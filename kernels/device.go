package kernels

import (
	"fmt"
	"math"
	"time"
	"unsafe"
)

// device is one GPU's primary context. Its methods call the driver and must
// run on th (through th.do); each wraps its errors with the call's name.
type device struct {
	drv     *driver
	th      *thread
	ordinal int32
	ctx     uintptr
	name    string
	cc      [2]int32 // compute capability
	sms     int32
	version int32 // the driver's CUDA version, 1000*major + 10*minor
	// Largest layered 2D texture: width, height, layers.
	maxTex [3]int32
}

// init creates the driver state and makes the primary context current. The
// primary context, shared with every other user of the device in this
// process, is used instead of cuCtxCreate, whose signature CUDA 13 changed.
func (d *device) init(ordinal int) error {
	if err := d.drv.check("cuInit", d.drv.cuInit(0)); err != nil {
		return fmt.Errorf("%w: %w", ErrNoDevice, err)
	}
	var n int32
	if err := d.drv.check("cuDeviceGetCount", d.drv.cuDeviceGetCount(&n)); err != nil {
		return fmt.Errorf("%w: %w", ErrNoDevice, err)
	}
	if ordinal < 0 || ordinal >= int(n) {
		return fmt.Errorf("%w: device %d requested, %d present", ErrNoDevice, ordinal, n)
	}
	if err := d.drv.check("cuDeviceGet", d.drv.cuDeviceGet(&d.ordinal, int32(ordinal))); err != nil {
		return err
	}
	if err := d.describe(); err != nil {
		return err
	}
	if err := d.drv.check("cuDevicePrimaryCtxRetain", d.drv.cuDevicePrimaryCtxRetain(&d.ctx, d.ordinal)); err != nil {
		return err
	}
	if err := d.drv.check("cuCtxSetCurrent", d.drv.cuCtxSetCurrent(d.ctx)); err != nil {
		d.drv.cuDevicePrimaryCtxRelease(d.ordinal)
		return err
	}
	return nil
}

// describe reads what job reports name and the limits the planner needs.
func (d *device) describe() error {
	var buf [256]byte
	if err := d.drv.check("cuDeviceGetName", d.drv.cuDeviceGetName(&buf[0], int32(len(buf)), d.ordinal)); err != nil {
		return err
	}
	d.name = cString(&buf[0])
	if err := d.drv.check("cuDriverGetVersion", d.drv.cuDriverGetVersion(&d.version)); err != nil {
		return err
	}
	attrs := []struct {
		attr int32
		dst  *int32
	}{
		{attrComputeMajor, &d.cc[0]}, {attrComputeMinor, &d.cc[1]}, {attrMultiprocessorCount, &d.sms},
		{attrTex2DLayeredWidth, &d.maxTex[0]}, {attrTex2DLayeredHeight, &d.maxTex[1]}, {attrTex2DLayeredLayers, &d.maxTex[2]},
	}
	for _, a := range attrs {
		if err := d.drv.check(fmt.Sprintf("cuDeviceGetAttribute(%d)", a.attr), d.drv.cuDeviceGetAttribute(a.dst, a.attr, d.ordinal)); err != nil {
			return err
		}
	}
	return nil
}

// usable reports why the device cannot run the kernels, as an error
// wrapping ErrNoDevice, or nil.
func (d *device) usable() error {
	if d.cc[0] < minComputeMajor {
		return fmt.Errorf("%w: %s has compute capability %d.%d; the kernels need %d.0 (Ampere) or later",
			ErrNoDevice, d.name, d.cc[0], d.cc[1], minComputeMajor)
	}
	free, err := d.freeMemory()
	if err != nil {
		return err
	}
	if free < minFreeMemory {
		return fmt.Errorf("%w: %s has %d MiB of free memory, less than the %d MiB needed",
			ErrNoDevice, d.name, free>>20, minFreeMemory>>20)
	}
	return nil
}

// release gives back the primary context.
func (d *device) release() error {
	return d.drv.check("cuDevicePrimaryCtxRelease", d.drv.cuDevicePrimaryCtxRelease(d.ordinal))
}

// freeMemory returns the device memory not yet allocated, in bytes.
func (d *device) freeMemory() (int64, error) {
	var free, total uintptr
	if err := d.drv.check("cuMemGetInfo", d.drv.cuMemGetInfo(&free, &total)); err != nil {
		return 0, err
	}
	return int64(free), nil
}

func (d *device) alloc(bytes int) (devPtr, error) {
	var p devPtr
	err := d.drv.check(fmt.Sprintf("cuMemAlloc(%d bytes)", bytes), d.drv.cuMemAlloc(&p, uintptr(bytes)))
	return p, err
}

func (d *device) free(p devPtr) error { return d.drv.check("cuMemFree", d.drv.cuMemFree(p)) }

// hostAlloc returns n float32s of page-locked host memory, which the copy
// engines read at full bus speed and which asynchronous copies require.
func (d *device) hostAlloc(n int) ([]float32, error) {
	var p unsafe.Pointer
	if err := d.drv.check(fmt.Sprintf("cuMemHostAlloc(%d bytes)", 4*n), d.drv.cuMemHostAlloc(&p, uintptr(4*n), cuMemHostAllocPortable)); err != nil {
		return nil, err
	}
	return unsafe.Slice((*float32)(p), n), nil
}

func (d *device) hostFree(s []float32) error {
	return d.drv.check("cuMemFreeHost", d.drv.cuMemFreeHost(unsafe.Pointer(unsafe.SliceData(s))))
}

// uploadAsync queues a copy from page-locked src to dst on stream s.
func (d *device) uploadAsync(dst devPtr, src []float32, s uintptr) error {
	return d.drv.check("cuMemcpyHtoDAsync", d.drv.cuMemcpyHtoDAsync(dst, unsafe.Pointer(unsafe.SliceData(src)), uintptr(4*len(src)), s))
}

// download copies len(dst) floats from src synchronously.
func (d *device) download(dst []float32, src devPtr) error {
	return d.drv.check("cuMemcpyDtoH", d.drv.cuMemcpyDtoH(unsafe.Pointer(unsafe.SliceData(dst)), src, uintptr(4*len(dst))))
}

// fill queues setting n float32s at p to v on stream s.
func (d *device) fill(p devPtr, v float32, n int, s uintptr) error {
	return d.drv.check("cuMemsetD32Async", d.drv.cuMemsetD32Async(p, math.Float32bits(v), uintptr(n), s))
}

// layeredArray allocates a 2D layered float32 CUDA array, the only array
// kind a layered texture can read.
func (d *device) layeredArray(width, height, layers int) (uintptr, error) {
	desc := array3DDescriptor{Width: uintptr(width), Height: uintptr(height), Depth: uintptr(layers),
		Format: cuADFormatFloat, NumChannels: 1, Flags: cudaArray3DLayered}
	var a uintptr
	err := d.drv.check(fmt.Sprintf("cuArray3DCreate(%dx%dx%d layered)", width, height, layers), d.drv.cuArray3DCreate(&a, &desc))
	return a, err
}

func (d *device) destroyArray(a uintptr) error {
	return d.drv.check("cuArrayDestroy", d.drv.cuArrayDestroy(a))
}

// bilinearTexture makes a texture object over array a that interpolates
// bilinearly in unnormalised texel coordinates and reads zero outside the
// array, which is what a detector with a zero border looks like.
func (d *device) bilinearTexture(a uintptr) (texObject, error) {
	res := resourceDesc{ResType: cuResourceTypeArray, Array: a}
	tex := textureDesc{
		AddressMode: [3]uint32{cuTRAddressModeBorder, cuTRAddressModeBorder, cuTRAddressModeBorder},
		FilterMode:  cuTRFilterModeLinear,
	}
	var t texObject
	err := d.drv.check("cuTexObjectCreate", d.drv.cuTexObjectCreate(&t, &res, &tex, nil))
	return t, err
}

func (d *device) destroyTexture(t texObject) error {
	return d.drv.check("cuTexObjectDestroy", d.drv.cuTexObjectDestroy(t))
}

// copyToArray queues a copy of layers images of width x height float32s,
// packed one after another, into the first layers of array a. The source is
// page-locked host memory or, when src is zero-length and dev is set, device
// memory.
func (d *device) copyToArray(a uintptr, host []float32, dev devPtr, width, height, layers int, s uintptr) error {
	p := memcpy3D{DstMemoryType: cuMemoryTypeArray, DstArray: a,
		SrcPitch: uintptr(4 * width), SrcHeight: uintptr(height),
		WidthInBytes: uintptr(4 * width), Height: uintptr(height), Depth: uintptr(layers)}
	if len(host) > 0 {
		p.SrcMemoryType, p.SrcHost = cuMemoryTypeHost, uintptr(unsafe.Pointer(unsafe.SliceData(host)))
	} else {
		p.SrcMemoryType, p.SrcDevice = cuMemoryTypeDevice, dev
	}
	return d.drv.check("cuMemcpy3DAsync", d.drv.cuMemcpy3DAsync(&p, s))
}

func (d *device) stream() (uintptr, error) {
	var s uintptr
	err := d.drv.check("cuStreamCreate", d.drv.cuStreamCreate(&s, cuStreamNonBlocking))
	return s, err
}

func (d *device) destroyStream(s uintptr) error {
	return d.drv.check("cuStreamDestroy", d.drv.cuStreamDestroy(s))
}

func (d *device) sync(s uintptr) error {
	return d.drv.check("cuStreamSynchronize", d.drv.cuStreamSynchronize(s))
}

// event makes an event for ordering only: without timing, recording and
// waiting on it cost least.
func (d *device) event() (uintptr, error) {
	var e uintptr
	err := d.drv.check("cuEventCreate", d.drv.cuEventCreate(&e, cuEventDisableTiming))
	return e, err
}

// timingEvent makes an event that records when the device reached it.
func (d *device) timingEvent() (uintptr, error) {
	var e uintptr
	err := d.drv.check("cuEventCreate", d.drv.cuEventCreate(&e, cuEventDefault))
	return e, err
}

// elapsed returns the device time between two completed timing events.
func (d *device) elapsed(start, end uintptr) (time.Duration, error) {
	var ms float32
	if err := d.drv.check("cuEventElapsedTime", d.drv.cuEventElapsedTime(&ms, start, end)); err != nil {
		return 0, err
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}

func (d *device) destroyEvent(e uintptr) error {
	return d.drv.check("cuEventDestroy", d.drv.cuEventDestroy(e))
}

func (d *device) record(e, s uintptr) error {
	return d.drv.check("cuEventRecord", d.drv.cuEventRecord(e, s))
}

// wait makes stream s wait for event e.
func (d *device) wait(s, e uintptr) error {
	return d.drv.check("cuStreamWaitEvent", d.drv.cuStreamWaitEvent(s, e, 0))
}

func (d *device) waitHost(e uintptr) error {
	return d.drv.check("cuEventSynchronize", d.drv.cuEventSynchronize(e))
}
