package kernels

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must end the device threads it starts (Close, or a failed
// Open): a leaked thread holds a CUDA context.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
