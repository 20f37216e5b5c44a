package kernels

import (
	"embed"
	"fmt"
	"regexp"
)

// The PTX is built from the .cu files next to it by `make kernels` (nvcc -ptx
// -arch=compute_80) and committed, so building ctrecon needs no CUDA
// toolkit; the driver compiles it for the GPU it finds (Ampere, Hopper and
// later). ptx.sha256 records the hash of each .cu the PTX was built from.
//
//go:embed *.ptx
var ptxFiles embed.FS

// Module files and the names the Go side looks up in them.
const (
	backprojectPTX = "backproject.ptx"
	filterPTX      = "filter.ptx"
	matrixSymbol   = "viewMatrix" // __constant__ matrices in backproject.cu
)

var entryRE = regexp.MustCompile(`(?m)^\s*(?:\.visible\s+|\.weak\s+)?\.entry\s+([A-Za-z_$][\w$]*)`)

// entries returns the kernels a PTX module defines, in order.
func entries(ptx []byte) []string {
	var out []string
	for _, m := range entryRE.FindAllSubmatch(ptx, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// module is a loaded PTX module.
type module struct {
	name string
	h    uintptr
}

// loadModule JIT-compiles an embedded PTX file for the current device. The
// driver caches the result on disk, so only the first load on a machine is
// slow.
func (d *device) loadModule(name string) (module, error) {
	ptx, err := ptxFiles.ReadFile(name)
	if err != nil {
		return module{}, fmt.Errorf("kernels: embedded %s: %w", name, err)
	}
	image := append(ptx[:len(ptx):len(ptx)], 0) // the driver reads PTX as a C string
	var h uintptr
	if err := d.drv.check("cuModuleLoadData("+name+")", d.drv.cuModuleLoadData(&h, &image[0])); err != nil {
		return module{}, err
	}
	return module{name: name, h: h}, nil
}

func (d *device) unload(m module) error {
	return d.drv.check("cuModuleUnload("+m.name+")", d.drv.cuModuleUnload(m.h))
}

func (d *device) function(m module, name string) (function, error) {
	f := function{name: name}
	err := d.drv.check(fmt.Sprintf("cuModuleGetFunction(%s, %s)", m.name, name), d.drv.cuModuleGetFunction(&f.h, m.h, name))
	return f, err
}

// global returns the device address and size of a module's __constant__ or
// __device__ variable.
func (d *device) global(m module, name string) (devPtr, int, error) {
	var p devPtr
	var n uintptr
	err := d.drv.check(fmt.Sprintf("cuModuleGetGlobal(%s, %s)", m.name, name), d.drv.cuModuleGetGlobal(&p, &n, m.h, name))
	return p, int(n), err
}
