// Package gputest opens the GPU for tests that need one: they skip where
// there is none, and fail instead under CTRECON_REQUIRE_GPU=1, which
// kernels/gpu-check.sh sets on the GPU machines.
package gputest

import (
	"os"
	"testing"

	"github.com/ctrecon/ctrecon/kernels"
)

// Required reports whether CTRECON_REQUIRE_GPU=1.
func Required() bool { return os.Getenv("CTRECON_REQUIRE_GPU") == "1" }

// Open opens the default GPU, closed when the test ends, or skips the test.
func Open(t testing.TB) *kernels.CUDA {
	t.Helper()
	c, err := kernels.Open(kernels.Options{})
	if err != nil {
		if Required() {
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
