package recon

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/kernels"
)

// OpenDevice opens the back-projector a process runs its jobs on, as
// --device names it: cpu the CPU; cuda the GPU, failing with the driver's
// reason where there is none; auto the GPU where the CUDA driver and a
// device are there, else the CPU, logging why ("" is auto). threads bounds the CPU
// back-projector's goroutines (0: all cores). release gives the device
// back once every job on it is over.
func OpenDevice(device string, threads int) (bp fdk.Backprojector, release func(), err error) {
	cpu := fdk.CPU{Threads: threads}
	switch device {
	case "cpu":
		return cpu, func() {}, nil
	case "", "auto", "cuda":
		gpu, err := kernels.Open(kernels.Options{})
		if err == nil {
			return gpu, func() { gpu.Close() }, nil
		}
		if device == "cuda" {
			return nil, nil, err
		}
		slog.Info("using the CPU", "reason", err.Error())
		return cpu, func() {}, nil
	}
	return nil, nil, fmt.Errorf("device %q: want auto, cpu or cuda", device)
}

// ErrDevice is wrapped by the error of a job that asks for a GPU on a
// worker without one. It is retried, so that a worker with a GPU may take
// the job, and fails on the last delivery.
var ErrDevice = errors.New("device not on this worker")

// backprojector returns the back-projector the job runs on, given the
// process's (nil: the CPU): the process's for auto, the CPU for cpu, the
// process's GPU for cuda. On the CPU, the job's threads, when it gives
// them, replace the process's.
func (j *Job) backprojector(given fdk.Backprojector) (fdk.Backprojector, error) {
	if given == nil {
		given = fdk.CPU{}
	}
	_, cpu := given.(fdk.CPU)
	switch {
	case j.Device == "cuda" && cpu:
		return nil, fmt.Errorf("%w: the job asks for device cuda, this worker runs on %s", ErrDevice, given.Name())
	case j.Device == "cpu" && !cpu:
		return fdk.CPU{Threads: j.Threads}, nil
	case cpu && j.Threads > 0:
		return fdk.CPU{Threads: j.Threads}, nil
	}
	return given, nil
}
