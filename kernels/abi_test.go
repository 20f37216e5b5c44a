package kernels

import (
	"reflect"
	"testing"
	"unsafe"
)

// The sizes and offsets below were measured on 2026-11-22 by compiling a
// C program that prints sizeof and offsetof for each structure with
// `gcc -I/usr/include` against Debian's cuda.h (nvidia-cuda-dev, CUDA
// 11.8, CUDA_VERSION 11080) on linux/amd64. The binary was not kept.
var measuredLayouts = []struct {
	name    string
	typ     any
	size    uintptr
	offsets map[string]uintptr // Go field -> C offset
}{
	{"CUDA_ARRAY3D_DESCRIPTOR", array3DDescriptor{}, 40, map[string]uintptr{
		"Width": 0, "Height": 8, "Depth": 16, "Format": 24, "NumChannels": 28, "Flags": 32}},
	{"CUDA_RESOURCE_DESC", resourceDesc{}, 144, map[string]uintptr{
		"ResType": 0, "Array": 8, "Flags": 136}},
	{"CUDA_TEXTURE_DESC", textureDesc{}, 104, map[string]uintptr{
		"AddressMode": 0, "FilterMode": 12, "Flags": 16, "MaxAnisotropy": 20, "MipmapFilterMode": 24,
		"MipmapLevelBias": 28, "MinMipmapLevelClamp": 32, "MaxMipmapLevelClamp": 36, "BorderColor": 40}},
	{"CUDA_MEMCPY3D", memcpy3D{}, 200, map[string]uintptr{
		"SrcXInBytes": 0, "SrcY": 8, "SrcZ": 16, "SrcLOD": 24, "SrcMemoryType": 32, "SrcHost": 40,
		"SrcDevice": 48, "SrcArray": 56, "SrcPitch": 72, "SrcHeight": 80,
		"DstXInBytes": 88, "DstY": 96, "DstZ": 104, "DstLOD": 112, "DstMemoryType": 120, "DstHost": 128,
		"DstDevice": 136, "DstArray": 144, "DstPitch": 160, "DstHeight": 168,
		"WidthInBytes": 176, "Height": 184, "Depth": 192}},
}

func TestStructLayoutsMatchCudaH(t *testing.T) {
	for _, l := range measuredLayouts {
		typ := reflect.TypeOf(l.typ)
		if typ.Size() != l.size {
			t.Errorf("%s: Go size %d, C size %d", l.name, typ.Size(), l.size)
		}
		named := 0
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Name == "_" {
				continue
			}
			named++
			want, ok := l.offsets[f.Name]
			if !ok {
				t.Errorf("%s.%s: no measured offset", l.name, f.Name)
			} else if f.Offset != want {
				t.Errorf("%s.%s: Go offset %d, C offset %d", l.name, f.Name, f.Offset, want)
			}
		}
		if named != len(l.offsets) {
			t.Errorf("%s: %d named Go fields, %d measured", l.name, named, len(l.offsets))
		}
	}
	if unsafe.Sizeof(devPtr(0)) != 8 || unsafe.Sizeof(texObject(0)) != 8 || unsafe.Sizeof(cuResult(0)) != 4 {
		t.Error("CUdeviceptr and CUtexObject are 64-bit, CUresult a 32-bit enum")
	}
}
