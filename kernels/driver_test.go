package kernels

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// requireGPU is set on GPU machines: there a missing device fails the
// GPU tests instead of skipping them.
var requireGPU = os.Getenv("CTRECON_REQUIRE_GPU") == "1"

// openOrSkip opens the default device for a test, skipping it where there
// is none unless CTRECON_REQUIRE_GPU=1.
func openOrSkip(t *testing.T, opts Options) *CUDA {
	t.Helper()
	c, err := Open(opts)
	if err != nil {
		if requireGPU {
			t.Fatalf("CTRECON_REQUIRE_GPU=1 but no usable GPU: %v", err)
		}
		t.Skipf("no CUDA device: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestMissingLibraryIsErrNoDriver(t *testing.T) {
	_, err := loadDriver("libcuda-ctrecon-missing.so.1")
	if !errors.Is(err, ErrNoDriver) {
		t.Fatalf("err = %v, want ErrNoDriver", err)
	}
	if !strings.Contains(err.Error(), "libcuda-ctrecon-missing.so.1") {
		t.Errorf("error %q does not name the library", err)
	}
}

// Where the driver library is installed but there is no GPU (this
// project's development machines), Open fails with ErrNoDevice and the
// driver's own error name.
func TestDriverWithoutDevice(t *testing.T) {
	c, err := Open(Options{})
	switch {
	case errors.Is(err, ErrNoDriver):
		t.Skipf("no driver library here: %v", err)
	case err == nil:
		c.Close()
		t.Skip("a GPU is present")
	}
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("err = %v, want ErrNoDevice", err)
	}
	var cerr *Error
	if !errors.As(err, &cerr) || !strings.HasPrefix(cerr.Name, "CUDA_ERROR_") || cerr.Op != "cuInit" {
		t.Fatalf("err = %v, want a cuInit *Error carrying the driver's error name", err)
	}
	t.Logf("Open without a GPU: %v", err)
}

func TestOpenUnknownOrdinal(t *testing.T) {
	if _, err := Open(Options{Device: 1 << 20}); !errors.Is(err, ErrNoDevice) && !errors.Is(err, ErrNoDriver) {
		t.Fatalf("device 1<<20: err = %v, want ErrNoDevice or ErrNoDriver", err)
	}
}

func TestThreadRunsCallsOnOneOSThread(t *testing.T) {
	th := startThread()
	defer th.stop()
	var first int
	for i := range 50 {
		err := th.do(func() error {
			tid := syscall.Gettid()
			if i == 0 {
				first = tid
			} else if tid != first {
				return errors.New("call moved to another OS thread")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
