package kernels

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/ebitengine/purego"
)

// libcuda is the driver library every NVIDIA driver installs; the
// unversioned libcuda.so comes only with development packages.
const libcuda = "libcuda.so.1"

// ErrNoDriver means the CUDA driver library could not be loaded: this
// machine has no NVIDIA driver, and the CPU must do the work.
var ErrNoDriver = errors.New("kernels: no CUDA driver (" + libcuda + " not loadable)")

// ErrNoDevice means the driver loaded but offers no usable GPU: cuInit
// failed, or the requested device ordinal does not exist.
var ErrNoDevice = errors.New("kernels: no CUDA device")

// Error is a failed CUDA driver call, named by the driver's own error name
// and description so that a log line can be looked up in NVIDIA's
// documentation.
type Error struct {
	Op   string // the driver function, e.g. "cuMemAlloc"
	Code int    // the CUresult
	Name string // e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Text string // e.g. "out of memory"
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (%d): %s", e.Op, e.Name, e.Code, e.Text)
}

// cuResult is the driver's CUresult, a C enum.
type cuResult int32

// Handles are opaque C pointers; device addresses and texture objects are
// 64-bit integers (CUdeviceptr, CUtexObject).
type (
	devPtr    uint64
	texObject uint64
)

// driver is the part of the CUDA driver API ctrecon uses, bound at run time.
// C int is int32 and size_t is uintptr; the names of the fields are the
// symbols' names without their ABI version suffix (see bind).
type driver struct {
	cuInit                    func(flags uint32) cuResult
	cuDriverGetVersion        func(v *int32) cuResult
	cuDeviceGetCount          func(n *int32) cuResult
	cuDeviceGet               func(dev *int32, ordinal int32) cuResult
	cuDeviceGetName           func(name *byte, n int32, dev int32) cuResult
	cuDeviceGetAttribute      func(v *int32, attr int32, dev int32) cuResult
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) cuResult
	cuDevicePrimaryCtxRelease func(dev int32) cuResult
	cuCtxSetCurrent           func(ctx uintptr) cuResult
	cuMemGetInfo              func(free, total *uintptr) cuResult
	cuModuleLoadData          func(mod *uintptr, image *byte) cuResult
	cuModuleUnload            func(mod uintptr) cuResult
	cuModuleGetFunction       func(f *uintptr, mod uintptr, name string) cuResult
	cuModuleGetGlobal         func(p *devPtr, size *uintptr, mod uintptr, name string) cuResult
	cuMemAlloc                func(p *devPtr, size uintptr) cuResult
	cuMemFree                 func(p devPtr) cuResult
	cuMemHostAlloc            func(p *unsafe.Pointer, size uintptr, flags uint32) cuResult
	cuMemFreeHost             func(p unsafe.Pointer) cuResult
	cuMemcpyHtoDAsync         func(dst devPtr, src unsafe.Pointer, n uintptr, s uintptr) cuResult
	cuMemcpyDtoH              func(dst unsafe.Pointer, src devPtr, n uintptr) cuResult
	cuMemcpy3DAsync           func(p *memcpy3D, s uintptr) cuResult
	cuMemsetD32Async          func(p devPtr, v uint32, n uintptr, s uintptr) cuResult
	cuArray3DCreate           func(a *uintptr, d *array3DDescriptor) cuResult
	cuArrayDestroy            func(a uintptr) cuResult
	cuTexObjectCreate         func(t *texObject, r *resourceDesc, td *textureDesc, rv unsafe.Pointer) cuResult
	cuTexObjectDestroy        func(t texObject) cuResult
	cuStreamCreate            func(s *uintptr, flags uint32) cuResult
	cuStreamDestroy           func(s uintptr) cuResult
	cuStreamSynchronize       func(s uintptr) cuResult
	cuStreamWaitEvent         func(s, e uintptr, flags uint32) cuResult
	cuEventCreate             func(e *uintptr, flags uint32) cuResult
	cuEventDestroy            func(e uintptr) cuResult
	cuEventRecord             func(e, s uintptr) cuResult
	cuEventSynchronize        func(e uintptr) cuResult
	cuEventElapsedTime        func(ms *float32, start, end uintptr) cuResult
	cuLaunchKernel            func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32, s uintptr, params, extra *unsafe.Pointer) cuResult
	cuGetErrorName            func(r cuResult, s **byte) cuResult
	cuGetErrorString          func(r cuResult, s **byte) cuResult
}

// loadDriver opens the driver library and binds every function, or returns
// an error wrapping ErrNoDriver.
func loadDriver(lib string) (*driver, error) {
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		// dlerror's text is per OS thread, and the goroutine may have moved
		// since the call: name the library here rather than trust it to.
		return nil, fmt.Errorf("%w: %s: %v", ErrNoDriver, lib, err)
	}
	d := &driver{}
	if err := d.bind(h); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDriver, err)
	}
	return d, nil
}

// bind resolves each function. cuda.h maps several names to versioned
// symbols (cuMemAlloc -> cuMemAlloc_v2): the unversioned symbols still
// exported keep the CUDA 3.x ABI with 32-bit sizes, so binding them by
// their plain names would corrupt every size and address.
func (d *driver) bind(lib uintptr) error {
	syms := []struct {
		name string
		fn   any
	}{
		{"cuInit", &d.cuInit},
		{"cuDriverGetVersion", &d.cuDriverGetVersion},
		{"cuDeviceGetCount", &d.cuDeviceGetCount},
		{"cuDeviceGet", &d.cuDeviceGet},
		{"cuDeviceGetName", &d.cuDeviceGetName},
		{"cuDeviceGetAttribute", &d.cuDeviceGetAttribute},
		{"cuDevicePrimaryCtxRetain", &d.cuDevicePrimaryCtxRetain},
		{"cuDevicePrimaryCtxRelease_v2", &d.cuDevicePrimaryCtxRelease},
		{"cuCtxSetCurrent", &d.cuCtxSetCurrent},
		{"cuMemGetInfo_v2", &d.cuMemGetInfo},
		{"cuModuleLoadData", &d.cuModuleLoadData},
		{"cuModuleUnload", &d.cuModuleUnload},
		{"cuModuleGetFunction", &d.cuModuleGetFunction},
		{"cuModuleGetGlobal_v2", &d.cuModuleGetGlobal},
		{"cuMemAlloc_v2", &d.cuMemAlloc},
		{"cuMemFree_v2", &d.cuMemFree},
		{"cuMemHostAlloc", &d.cuMemHostAlloc},
		{"cuMemFreeHost", &d.cuMemFreeHost},
		{"cuMemcpyHtoDAsync_v2", &d.cuMemcpyHtoDAsync},
		{"cuMemcpyDtoH_v2", &d.cuMemcpyDtoH},
		{"cuMemcpy3DAsync_v2", &d.cuMemcpy3DAsync},
		{"cuMemsetD32Async", &d.cuMemsetD32Async},
		{"cuArray3DCreate_v2", &d.cuArray3DCreate},
		{"cuArrayDestroy", &d.cuArrayDestroy},
		{"cuTexObjectCreate", &d.cuTexObjectCreate},
		{"cuTexObjectDestroy", &d.cuTexObjectDestroy},
		{"cuStreamCreate", &d.cuStreamCreate},
		{"cuStreamDestroy_v2", &d.cuStreamDestroy},
		{"cuStreamSynchronize", &d.cuStreamSynchronize},
		{"cuStreamWaitEvent", &d.cuStreamWaitEvent},
		{"cuEventCreate", &d.cuEventCreate},
		{"cuEventDestroy_v2", &d.cuEventDestroy},
		{"cuEventRecord", &d.cuEventRecord},
		{"cuEventSynchronize", &d.cuEventSynchronize},
		{"cuEventElapsedTime", &d.cuEventElapsedTime},
		{"cuLaunchKernel", &d.cuLaunchKernel},
		{"cuGetErrorName", &d.cuGetErrorName},
		{"cuGetErrorString", &d.cuGetErrorString},
	}
	for _, s := range syms {
		p, err := purego.Dlsym(lib, s.name)
		if err != nil {
			return fmt.Errorf("%s lacks %s (driver too old?): %v", libcuda, s.name, err)
		}
		purego.RegisterFunc(s.fn, p)
	}
	return nil
}

// check turns a CUresult into an *Error naming op, or nil on success.
func (d *driver) check(op string, r cuResult) error {
	if r == 0 {
		return nil
	}
	e := &Error{Op: op, Code: int(r), Name: "unknown CUresult", Text: "no description"}
	var s *byte
	if d.cuGetErrorName(r, &s) == 0 {
		e.Name = cString(s)
	}
	if d.cuGetErrorString(r, &s) == 0 {
		e.Text = cString(s)
	}
	return e
}

// cString copies a NUL-terminated string the driver owns.
func cString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}
