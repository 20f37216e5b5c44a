package kernels

import (
	"math"
	"strings"
	"testing"
	"unsafe"
)

// cuLaunchKernel reads parameter i through ptrs[i], as many bytes as the
// kernel's parameter has: each must point at its own slot holding the
// value's C representation.
func TestPackArgs(t *testing.T) {
	a, err := packArgs(devPtr(0x7f0012345678), int64(-3), texObject(42), int32(-7), uint32(9), float32(1.5))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.ptrs) != 6 {
		t.Fatalf("%d pointers for 6 arguments", len(a.ptrs))
	}
	if got := *(*uint64)(a.ptrs[0]); got != 0x7f0012345678 {
		t.Errorf("device pointer: %#x", got)
	}
	if got := *(*int64)(a.ptrs[1]); got != -3 {
		t.Errorf("long long: %d", got)
	}
	if got := *(*uint64)(a.ptrs[2]); got != 42 {
		t.Errorf("texture object: %d", got)
	}
	if got := *(*int32)(a.ptrs[3]); got != -7 {
		t.Errorf("int: %d", got)
	}
	if got := *(*uint32)(a.ptrs[4]); got != 9 {
		t.Errorf("unsigned: %d", got)
	}
	if got := *(*float32)(a.ptrs[5]); got != 1.5 {
		t.Errorf("float: %g", got)
	}
	if hi := *(*uint32)(unsafe.Add(a.ptrs[3], 4)); hi != 0 {
		t.Errorf("int32 slot's upper half = %#x, want 0", hi)
	}
	for i := range a.ptrs {
		if uintptr(a.ptrs[i])%8 != 0 {
			t.Errorf("argument %d not 8-byte aligned", i)
		}
		if i > 0 && uintptr(a.ptrs[i])-uintptr(a.ptrs[i-1]) != 8 {
			t.Errorf("argument %d does not have its own slot", i)
		}
	}
	if nan, _ := packArgs(float32(math.NaN())); !math.IsNaN(float64(*(*float32)(nan.ptrs[0]))) {
		t.Error("NaN did not survive packing")
	}
}

func TestPackArgsRejectsAmbiguousTypes(t *testing.T) {
	for _, v := range []any{int(1), float64(1), uintptr(1), []float32{1}} {
		if _, err := packArgs(int32(0), v); err == nil || !strings.Contains(err.Error(), "argument 1") {
			t.Errorf("%T: err = %v, want an error naming argument 1", v, err)
		}
	}
}
