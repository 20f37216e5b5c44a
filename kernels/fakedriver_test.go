package kernels

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// fakeGPU is a CUDA driver written in Go, for running the real host code
// where there is no GPU. It fills the same function table loadDriver binds
// from libcuda, records every call, executes copies at once and kernels by
// Go transcription of the .cu files (fakekernels_test.go), and checks what
// a GPU would not forgive:
//
//   - ordering: streams, events and host synchronisation are modelled with
//     vector clocks, one timeline for the host, one for the legacy default
//     stream and one per stream. Every operation's reads must come after
//     the last write to the same bytes, and its writes after every earlier
//     read and write, in that happens-before order. The legacy default
//     stream, where synchronous copies run, is ordered with nothing on a
//     non-blocking stream.
//     Freeing or destroying something the device may still be using is
//     checked the same way against the host's timeline.
//   - leaks: live allocations, page-locked buffers, arrays, textures,
//     modules, streams, events and the primary context's retain count.
//
// Faults are injected with failAt: the nth call of an operation returns an
// error.
type fakeGPU struct {
	mu sync.Mutex

	cc         [2]int32
	memory     int64 // bytes of device memory
	peak       int64 // most bytes allocated at once
	calls      []string
	violations []string
	// failAt[op] = n makes the nth call of op from now fail with
	// CUDA_ERROR_UNKNOWN; failCount counts calls since it was set.
	failAt    map[string]int
	failCount map[string]int

	next     uint64
	bufs     map[devPtr]*fakeBuf // device memory, by base address
	host     map[uintptr]*fakeHost
	arrays   map[uintptr]*fakeArray
	textures map[texObject]*fakeArray
	modules  map[uintptr]*fakeModule
	funcs    map[uintptr]fakeFunc
	streams  map[uintptr]int // timeline of each stream
	events   map[uintptr]*fakeEvent
	retained int
	// clocks[tl] is the vector clock of timeline tl: host, legacy, streams.
	clocks [][]uint64
}

// Timelines of the host and of the legacy default stream (stream 0).
const (
	hostTL   = 0
	legacyTL = 1
)

// access is one operation's use of bytes [lo, hi) of an object.
type access struct {
	lo, hi int64
	write  bool
	tl     int
	seq    uint64
	op     string
}

// tracked is the access history of one object.
type tracked struct {
	name string
	acc  []access
}

type fakeBuf struct {
	tracked
	base devPtr
	data []float32
	free func() // nil unless freeing is allowed (not module globals)
}

type fakeHost struct {
	tracked
	data []float32
}

type fakeArray struct {
	tracked
	w, h, layers int
	data         []float32
}

type fakeModule struct {
	name    string
	entries []string
	globals []*fakeBuf
}

type fakeFunc struct {
	name   string
	module *fakeModule
}

type fakeEvent struct {
	timing   bool
	recorded []uint64 // the recording stream's clock, nil until recorded
	tl       int
}

// Some CUresults.
const (
	cuErrInvalidValue  cuResult = 1
	cuErrOutOfMemory   cuResult = 2
	cuErrInvalidHandle cuResult = 400
	cuErrNotFound      cuResult = 500
	cuErrNotReady      cuResult = 600
	cuErrUnknown       cuResult = 999
)

var errorNames = map[cuResult][]byte{}

// newFakeGPU returns a fake H100-like device: compute capability 9.0 and
// memory bytes of device memory.
func newFakeGPU(memory int64) *fakeGPU {
	return &fakeGPU{cc: [2]int32{9, 0}, memory: memory, failAt: map[string]int{}, failCount: map[string]int{},
		bufs: map[devPtr]*fakeBuf{}, host: map[uintptr]*fakeHost{}, arrays: map[uintptr]*fakeArray{},
		textures: map[texObject]*fakeArray{}, modules: map[uintptr]*fakeModule{}, funcs: map[uintptr]fakeFunc{},
		streams: map[uintptr]int{}, events: map[uintptr]*fakeEvent{}, clocks: [][]uint64{make([]uint64, 2), make([]uint64, 2)}}
}

// call records a call and reports whether it is to fail.
func (g *fakeGPU) call(op string, args ...any) bool {
	g.calls = append(g.calls, op+fmt.Sprint(args...))
	if n, ok := g.failAt[op]; ok {
		g.failCount[op]++
		if g.failCount[op] == n {
			delete(g.failAt, op)
			delete(g.failCount, op)
			return true
		}
	}
	return false
}

func (g *fakeGPU) violate(format string, args ...any) {
	g.violations = append(g.violations, fmt.Sprintf(format, args...))
}

func (g *fakeGPU) handle() uint64 { g.next++; return g.next }

// clock returns timeline tl's clock, widened to every timeline.
func (g *fakeGPU) clock(tl int) []uint64 {
	for len(g.clocks[tl]) < len(g.clocks) {
		g.clocks[tl] = append(g.clocks[tl], 0)
	}
	return g.clocks[tl]
}

func merge(dst, src []uint64) {
	for i := range min(len(dst), len(src)) {
		dst[i] = max(dst[i], src[i])
	}
}

// enqueue starts an operation on stream s: it comes after everything the
// host did before queueing it, and after the stream's earlier work.
func (g *fakeGPU) enqueue(s uintptr) (tl int, ok bool) {
	if s == 0 {
		tl = legacyTL
	} else if tl, ok = g.streams[s]; !ok {
		g.violate("operation on unknown or destroyed stream %#x", s)
		return 0, false
	}
	c := g.clock(tl)
	merge(c, g.clock(hostTL))
	c[tl]++
	return tl, true
}

// touch checks and records timeline tl's access to bytes [lo, hi) of o.
func (g *fakeGPU) touch(o *tracked, lo, hi int64, write bool, tl int, op string) {
	c := g.clock(tl)
	for _, a := range o.acc {
		if a.lo < hi && lo < a.hi && (write || a.write) && c[a.tl] < a.seq {
			kind := map[bool]string{false: "read", true: "write"}
			g.violate("%s %ss %s[%d:%d] unordered with %s's %s of [%d:%d]", op, kind[write], o.name, lo, hi, a.op, kind[a.write], a.lo, a.hi)
		}
	}
	o.acc = append(o.acc, access{lo, hi, write, tl, c[tl], op})
}

// settled checks, before o is freed, that the host has seen every access
// to it finish.
func (g *fakeGPU) settled(o *tracked, op string) {
	c := g.clock(hostTL)
	for _, a := range o.acc {
		if c[a.tl] < a.seq {
			g.violate("%s frees %s while %s may still use it", op, o.name, a.op)
			return
		}
	}
}

// buffer returns the device allocation holding [p, p+n).
func (g *fakeGPU) buffer(p devPtr, n int64) (*fakeBuf, int64) {
	for _, b := range g.bufs {
		off := int64(p) - int64(b.base)
		if off >= 0 && off+n <= 4*int64(len(b.data)) {
			return b, off
		}
	}
	return nil, 0
}

// hostBuffer returns the page-locked allocation holding [p, p+n), or nil
// for pageable memory.
func (g *fakeGPU) hostBuffer(p uintptr, n int64) (*fakeHost, int64) {
	for base, h := range g.host {
		off := int64(p) - int64(base)
		if off >= 0 && off+n <= 4*int64(len(h.data)) {
			return h, off
		}
	}
	return nil, 0
}

func (g *fakeGPU) newBuf(name string, floats int, freeable bool) *fakeBuf {
	b := &fakeBuf{tracked: tracked{name: name}, base: devPtr(0x7000_0000_0000 + g.handle()<<36), data: make([]float32, floats)}
	if freeable {
		b.free = func() { delete(g.bufs, b.base) }
	}
	g.bufs[b.base] = b
	return b
}

func (g *fakeGPU) allocated() int64 {
	var n int64
	for _, b := range g.bufs {
		n += 4 * int64(len(b.data))
	}
	for _, a := range g.arrays {
		n += 4 * int64(len(a.data))
	}
	return n
}

// live lists the resources not released, empty when nothing leaks.
func (g *fakeGPU) live() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, b := range g.bufs {
		if b.free != nil {
			out = append(out, b.name)
		}
	}
	for _, h := range g.host {
		out = append(out, h.name)
	}
	for _, a := range g.arrays {
		out = append(out, a.name)
	}
	for t := range g.textures {
		out = append(out, fmt.Sprintf("texture %d", t))
	}
	for _, m := range g.modules {
		out = append(out, "module "+m.name)
	}
	for s := range g.streams {
		out = append(out, fmt.Sprintf("stream %#x", s))
	}
	for e := range g.events {
		out = append(out, fmt.Sprintf("event %#x", e))
	}
	if g.retained != 0 {
		out = append(out, fmt.Sprintf("primary context retained %d times", g.retained))
	}
	slices.Sort(out)
	return out
}

// driver returns the function table over g.
func (g *fakeGPU) driver() *driver {
	lock := func() func() { g.mu.Lock(); return g.mu.Unlock }
	d := &driver{}
	d.cuInit = func(uint32) cuResult { defer lock()(); g.call("cuInit"); return 0 }
	d.cuDriverGetVersion = func(v *int32) cuResult { *v = 13000; return 0 }
	d.cuDeviceGetCount = func(n *int32) cuResult { *n = 1; return 0 }
	d.cuDeviceGet = func(dev *int32, ordinal int32) cuResult { *dev = ordinal; return 0 }
	d.cuDeviceGetName = func(name *byte, n int32, dev int32) cuResult {
		copy(unsafe.Slice(name, n), "Fake GPU\x00")
		return 0
	}
	d.cuDeviceGetAttribute = func(v *int32, attr int32, dev int32) cuResult {
		*v = map[int32]int32{attrComputeMajor: g.cc[0], attrComputeMinor: g.cc[1], attrMultiprocessorCount: 4,
			attrTex2DLayeredWidth: 32768, attrTex2DLayeredHeight: 32768, attrTex2DLayeredLayers: 2048}[attr]
		return 0
	}
	d.cuDevicePrimaryCtxRetain = func(ctx *uintptr, dev int32) cuResult {
		defer lock()()
		g.call("cuDevicePrimaryCtxRetain")
		g.retained++
		*ctx = 1
		return 0
	}
	d.cuDevicePrimaryCtxRelease = func(dev int32) cuResult {
		defer lock()()
		g.call("cuDevicePrimaryCtxRelease")
		g.retained--
		if n := len(g.bufs) + len(g.host) + len(g.arrays) + len(g.streams) + len(g.events); g.retained == 0 && n > len(g.modulesGlobals()) {
			g.violate("primary context released with %d resources alive", n)
		}
		return 0
	}
	d.cuCtxSetCurrent = func(uintptr) cuResult { return 0 }
	d.cuMemGetInfo = func(free, total *uintptr) cuResult {
		defer lock()()
		*free, *total = uintptr(g.memory-g.allocated()), uintptr(g.memory)
		return 0
	}
	g.bindModules(d, lock)
	g.bindMemory(d, lock)
	g.bindCopies(d, lock)
	g.bindStreams(d, lock)
	d.cuLaunchKernel = func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32, s uintptr, params, extra *unsafe.Pointer) cuResult {
		defer lock()()
		fn, known := g.funcs[f]
		if g.call("cuLaunchKernel", fn.name) {
			return cuErrUnknown
		}
		tl, ok := g.enqueue(s)
		if !ok || !known {
			return cuErrInvalidHandle
		}
		args := unsafe.Slice(params, kernelParams(fn.name))
		return g.launch(fn, [3]uint32{gx, gy, gz}, [3]uint32{bx, by, bz}, tl, args)
	}
	d.cuGetErrorName = func(r cuResult, s **byte) cuResult { *s = &errorName(r)[0]; return 0 }
	d.cuGetErrorString = func(r cuResult, s **byte) cuResult { *s = &errorName(r)[0]; return 0 }
	return d
}

func errorName(r cuResult) []byte {
	if b, ok := errorNames[r]; ok {
		return b
	}
	b := []byte("CUDA_ERROR_FAKE_" + strconv.Itoa(int(r)) + "\x00")
	errorNames[r] = b
	return b
}

// modulesGlobals lists the constant-memory buffers of loaded modules,
// which die with their module rather than by cuMemFree.
func (g *fakeGPU) modulesGlobals() []*fakeBuf {
	var out []*fakeBuf
	for _, m := range g.modules {
		out = append(out, m.globals...)
	}
	return out
}

func (g *fakeGPU) bindModules(d *driver, lock func() func()) {
	d.cuModuleLoadData = func(mod *uintptr, image *byte) cuResult {
		defer lock()()
		n := 0
		for *(*byte)(unsafe.Add(unsafe.Pointer(image), n)) != 0 {
			n++
		}
		ptx := unsafe.Slice(image, n)
		if g.call("cuModuleLoadData") {
			return cuErrUnknown
		}
		m := &fakeModule{name: fmt.Sprintf("module%d", g.next+1), entries: entries(ptx)}
		if strings.Contains(string(ptx), matrixSymbol) {
			m.globals = append(m.globals, g.newBuf(m.name+"."+matrixSymbol, matrixSlots*maxProjPerLaunch*12, false))
		}
		*mod = uintptr(g.handle())
		g.modules[*mod] = m
		return 0
	}
	d.cuModuleUnload = func(mod uintptr) cuResult {
		defer lock()()
		g.call("cuModuleUnload")
		m, ok := g.modules[mod]
		if !ok {
			return cuErrInvalidHandle
		}
		for _, b := range m.globals {
			g.settled(&b.tracked, "cuModuleUnload")
			delete(g.bufs, b.base)
		}
		delete(g.modules, mod)
		return 0
	}
	d.cuModuleGetFunction = func(f *uintptr, mod uintptr, name string) cuResult {
		defer lock()()
		m, ok := g.modules[mod]
		if g.call("cuModuleGetFunction", name) || !ok {
			return cuErrInvalidHandle
		}
		if !slices.Contains(m.entries, name) {
			return cuErrNotFound
		}
		*f = uintptr(g.handle())
		g.funcs[*f] = fakeFunc{name, m}
		return 0
	}
	d.cuModuleGetGlobal = func(p *devPtr, size *uintptr, mod uintptr, name string) cuResult {
		defer lock()()
		m, ok := g.modules[mod]
		if !ok || len(m.globals) == 0 || name != matrixSymbol {
			return cuErrNotFound
		}
		*p, *size = m.globals[0].base, uintptr(4*len(m.globals[0].data))
		return 0
	}
}

func (g *fakeGPU) bindMemory(d *driver, lock func() func()) {
	d.cuMemAlloc = func(p *devPtr, size uintptr) cuResult {
		defer lock()()
		if g.call("cuMemAlloc", size) {
			return cuErrUnknown
		}
		if g.allocated()+int64(size) > g.memory {
			return cuErrOutOfMemory
		}
		*p = g.newBuf(fmt.Sprintf("buffer%d", g.next+1), int(size+3)/4, true).base
		g.peak = max(g.peak, g.allocated())
		return 0
	}
	d.cuMemFree = func(p devPtr) cuResult {
		defer lock()()
		g.call("cuMemFree")
		b, ok := g.bufs[p]
		if !ok || b.free == nil {
			g.violate("cuMemFree of %#x, not an allocation", p)
			return cuErrInvalidValue
		}
		g.settled(&b.tracked, "cuMemFree")
		b.free()
		return 0
	}
	d.cuMemHostAlloc = func(p *unsafe.Pointer, size uintptr, flags uint32) cuResult {
		defer lock()()
		if g.call("cuMemHostAlloc", size) {
			return cuErrUnknown
		}
		h := &fakeHost{tracked: tracked{name: fmt.Sprintf("pinned%d", g.handle())}, data: make([]float32, (size+3)/4+1)}
		*p = unsafe.Pointer(&h.data[0])
		g.host[uintptr(*p)] = h
		return 0
	}
	d.cuMemFreeHost = func(p unsafe.Pointer) cuResult {
		defer lock()()
		g.call("cuMemFreeHost")
		h, ok := g.host[uintptr(p)]
		if !ok {
			g.violate("cuMemFreeHost of %p, not a page-locked allocation", p)
			return cuErrInvalidValue
		}
		g.settled(&h.tracked, "cuMemFreeHost")
		delete(g.host, uintptr(p))
		return 0
	}
	d.cuArray3DCreate = func(a *uintptr, desc *array3DDescriptor) cuResult {
		defer lock()()
		if g.call("cuArray3DCreate") {
			return cuErrUnknown
		}
		if desc.Format != cuADFormatFloat || desc.NumChannels != 1 || desc.Flags != cudaArray3DLayered {
			return cuErrInvalidValue
		}
		arr := &fakeArray{tracked: tracked{name: fmt.Sprintf("array%d", g.next+1)}, w: int(desc.Width), h: int(desc.Height), layers: int(desc.Depth)}
		arr.data = make([]float32, arr.w*arr.h*arr.layers)
		*a = uintptr(g.handle())
		g.arrays[*a] = arr
		g.peak = max(g.peak, g.allocated())
		return 0
	}
	d.cuArrayDestroy = func(a uintptr) cuResult {
		defer lock()()
		g.call("cuArrayDestroy")
		arr, ok := g.arrays[a]
		if !ok {
			return cuErrInvalidHandle
		}
		for _, t := range g.textures {
			if t == arr {
				g.violate("cuArrayDestroy of %s while a texture reads it", arr.name)
			}
		}
		g.settled(&arr.tracked, "cuArrayDestroy")
		delete(g.arrays, a)
		return 0
	}
	d.cuTexObjectCreate = func(t *texObject, r *resourceDesc, td *textureDesc, rv unsafe.Pointer) cuResult {
		defer lock()()
		arr, ok := g.arrays[r.Array]
		if g.call("cuTexObjectCreate") || !ok {
			return cuErrUnknown
		}
		if td.FilterMode != cuTRFilterModeLinear || td.AddressMode[0] != cuTRAddressModeBorder || td.AddressMode[1] != cuTRAddressModeBorder {
			g.violate("texture over %s is not bilinear with a zero border", arr.name)
		}
		*t = texObject(g.handle())
		g.textures[*t] = arr
		return 0
	}
	d.cuTexObjectDestroy = func(t texObject) cuResult {
		defer lock()()
		g.call("cuTexObjectDestroy")
		arr, ok := g.textures[t]
		if !ok {
			return cuErrInvalidHandle
		}
		g.settled(&arr.tracked, "cuTexObjectDestroy")
		delete(g.textures, t)
		return 0
	}
}

func (g *fakeGPU) bindCopies(d *driver, lock func() func()) {
	// copyIn writes n bytes from host p to device dst on timeline tl,
	// reading page-locked memory as an access of its own.
	copyIn := func(op string, dst devPtr, p unsafe.Pointer, n int64, tl int) cuResult {
		b, off := g.buffer(dst, n)
		if b == nil {
			g.violate("%s to %#x: %d bytes outside any allocation", op, dst, n)
			return cuErrInvalidValue
		}
		if h, hoff := g.hostBuffer(uintptr(p), n); h != nil {
			g.touch(&h.tracked, hoff, hoff+n, false, tl, op)
		}
		g.touch(&b.tracked, off, off+n, true, tl, op)
		copy(b.data[off/4:(off+n)/4], unsafe.Slice((*float32)(p), n/4))
		return 0
	}
	d.cuMemcpyHtoDAsync = func(dst devPtr, src unsafe.Pointer, n uintptr, s uintptr) cuResult {
		defer lock()()
		if g.call("cuMemcpyHtoDAsync") {
			return cuErrUnknown
		}
		if h, _ := g.hostBuffer(uintptr(src), int64(n)); h == nil {
			g.violate("cuMemcpyHtoDAsync from pageable memory %p", src)
		}
		tl, ok := g.enqueue(s)
		if !ok {
			return cuErrInvalidHandle
		}
		return copyIn("cuMemcpyHtoDAsync", dst, src, int64(n), tl)
	}
	d.cuMemcpyDtoH = func(dst unsafe.Pointer, src devPtr, n uintptr) cuResult {
		defer lock()()
		if g.call("cuMemcpyDtoH") {
			return cuErrUnknown
		}
		b, off := g.buffer(src, int64(n))
		if b == nil {
			g.violate("cuMemcpyDtoH from %#x: %d bytes outside any allocation", src, n)
			return cuErrInvalidValue
		}
		tl, _ := g.enqueue(0)
		g.touch(&b.tracked, off, off+int64(n), false, tl, "cuMemcpyDtoH")
		merge(g.clock(hostTL), g.clock(tl))
		copy(unsafe.Slice((*float32)(dst), n/4), b.data[off/4:])
		return 0
	}
	d.cuMemcpy3DAsync = func(p *memcpy3D, s uintptr) cuResult {
		defer lock()()
		if g.call("cuMemcpy3DAsync") {
			return cuErrUnknown
		}
		tl, ok := g.enqueue(s)
		arr := g.arrays[p.DstArray]
		if !ok || arr == nil || p.DstMemoryType != cuMemoryTypeArray {
			return cuErrInvalidValue
		}
		w, h, layers := int(p.WidthInBytes/4), int(p.Height), int(p.Depth)
		if w != arr.w || h != arr.h || layers > arr.layers || p.SrcPitch != p.WidthInBytes || p.SrcHeight != p.Height {
			g.violate("cuMemcpy3DAsync of %dx%dx%d into %s of %dx%dx%d", w, h, layers, arr.name, arr.w, arr.h, arr.layers)
			return cuErrInvalidValue
		}
		n := int64(4 * w * h * layers)
		var src []float32
		switch p.SrcMemoryType {
		case cuMemoryTypeHost:
			hb, off := g.hostBuffer(p.SrcHost, n)
			if hb == nil {
				g.violate("cuMemcpy3DAsync from pageable memory")
				return cuErrInvalidValue
			}
			g.touch(&hb.tracked, off, off+n, false, tl, "cuMemcpy3DAsync")
			src = hb.data[off/4:]
		case cuMemoryTypeDevice:
			b, off := g.buffer(p.SrcDevice, n)
			if b == nil {
				return cuErrInvalidValue
			}
			g.touch(&b.tracked, off, off+n, false, tl, "cuMemcpy3DAsync")
			src = b.data[off/4:]
		default:
			return cuErrInvalidValue
		}
		g.touch(&arr.tracked, 0, n, true, tl, "cuMemcpy3DAsync")
		copy(arr.data, src[:n/4])
		return 0
	}
	d.cuMemsetD32Async = func(p devPtr, v uint32, n uintptr, s uintptr) cuResult {
		defer lock()()
		if g.call("cuMemsetD32Async") {
			return cuErrUnknown
		}
		tl, ok := g.enqueue(s)
		b, off := g.buffer(p, 4*int64(n))
		if !ok || b == nil {
			return cuErrInvalidValue
		}
		g.touch(&b.tracked, off, off+4*int64(n), true, tl, "cuMemsetD32Async")
		for i := range int(n) {
			b.data[int(off/4)+i] = math.Float32frombits(v)
		}
		return 0
	}
}

func (g *fakeGPU) bindStreams(d *driver, lock func() func()) {
	d.cuStreamCreate = func(s *uintptr, flags uint32) cuResult {
		defer lock()()
		if g.call("cuStreamCreate") {
			return cuErrUnknown
		}
		if flags != cuStreamNonBlocking {
			g.violate("stream created with flags %d, not non-blocking", flags)
		}
		*s = uintptr(g.handle())
		g.streams[*s] = len(g.clocks)
		g.clocks = append(g.clocks, nil)
		return 0
	}
	d.cuStreamDestroy = func(s uintptr) cuResult {
		defer lock()()
		g.call("cuStreamDestroy")
		tl, ok := g.streams[s]
		if !ok {
			return cuErrInvalidHandle
		}
		if g.clock(hostTL)[tl] < g.clock(tl)[tl] {
			g.violate("stream %#x destroyed with work the host has not waited for", s)
		}
		delete(g.streams, s)
		return 0
	}
	d.cuStreamSynchronize = func(s uintptr) cuResult {
		defer lock()()
		failed := g.call("cuStreamSynchronize")
		tl, ok := g.streams[s]
		if !ok {
			return cuErrInvalidHandle
		}
		// A failed synchronisation reports an error of the stream's work:
		// that work is over, done or abandoned, as it is on a GPU.
		merge(g.clock(hostTL), g.clock(tl))
		if failed {
			return cuErrUnknown
		}
		return 0
	}
	d.cuStreamWaitEvent = func(s, e uintptr, flags uint32) cuResult {
		defer lock()()
		if g.call("cuStreamWaitEvent") {
			return cuErrUnknown
		}
		tl, ok := g.streams[s]
		ev := g.events[e]
		if !ok || ev == nil {
			return cuErrInvalidHandle
		}
		merge(g.clock(tl), ev.recorded) // an event never recorded is complete
		return 0
	}
	d.cuEventCreate = func(e *uintptr, flags uint32) cuResult {
		defer lock()()
		if g.call("cuEventCreate") {
			return cuErrUnknown
		}
		*e = uintptr(g.handle())
		g.events[*e] = &fakeEvent{timing: flags&cuEventDisableTiming == 0}
		return 0
	}
	d.cuEventDestroy = func(e uintptr) cuResult {
		defer lock()()
		g.call("cuEventDestroy")
		if _, ok := g.events[e]; !ok {
			return cuErrInvalidHandle
		}
		delete(g.events, e)
		return 0
	}
	d.cuEventRecord = func(e, s uintptr) cuResult {
		defer lock()()
		if g.call("cuEventRecord") {
			return cuErrUnknown
		}
		ev := g.events[e]
		tl, ok := g.enqueue(s)
		if !ok || ev == nil {
			return cuErrInvalidHandle
		}
		ev.recorded, ev.tl = slices.Clone(g.clock(tl)), tl
		return 0
	}
	d.cuEventSynchronize = func(e uintptr) cuResult {
		defer lock()()
		failed := g.call("cuEventSynchronize")
		ev := g.events[e]
		if ev == nil {
			return cuErrInvalidHandle
		}
		merge(g.clock(hostTL), ev.recorded) // over, even when it failed
		if failed {
			return cuErrUnknown
		}
		return 0
	}
	d.cuEventElapsedTime = func(ms *float32, start, end uintptr) cuResult {
		defer lock()()
		g.call("cuEventElapsedTime")
		a, b := g.events[start], g.events[end]
		if a == nil || b == nil || !a.timing || !b.timing || a.recorded == nil || b.recorded == nil {
			g.violate("cuEventElapsedTime on an event that is not a recorded timing event")
			return cuErrInvalidHandle
		}
		host := g.clock(hostTL)
		if host[a.tl] < a.recorded[a.tl] || host[b.tl] < b.recorded[b.tl] {
			g.violate("cuEventElapsedTime before the host has seen both events complete")
			return cuErrNotReady
		}
		*ms = 0.25
		return 0
	}
}
