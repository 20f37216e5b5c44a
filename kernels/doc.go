// Package kernels is ctrecon's CUDA back-end: FDK back-projection, and
// optionally the weighting and ramp filter before it, on an NVIDIA GPU.
//
// The driver API is bound at run time from libcuda.so.1 with purego, so the
// binary needs neither cgo nor the CUDA toolkit and runs unchanged on
// machines without a GPU, where [Open] returns an error wrapping
// [ErrNoDriver] or [ErrNoDevice] and the caller falls back to [fdk.CPU]:
//
//	bp := fdk.Backprojector(fdk.CPU{})
//	if c, err := kernels.Open(kernels.Options{}); err == nil {
//		defer c.Close()
//		bp = c
//	} else {
//		slog.Info("using the CPU", "reason", err)
//	}
//
// The kernels are CUDA C in the .cu files beside this package, compiled to
// PTX by `make kernels` and embedded; the driver compiles the PTX for the
// GPU it finds. Every driver call runs on one OS thread per device, and
// every result is checked and reported as an [*Error] that carries the
// driver's error name.
//
// [CUDA] implements [fdk.Backprojector] for filtered projections;
// [CUDA.StartFDK] also weights and filters raw projections on the GPU.
// Volumes larger than the device memory are reconstructed in z-slabs.
package kernels
