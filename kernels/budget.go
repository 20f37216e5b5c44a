package kernels

import (
	"fmt"
	"sync"
)

// budget is the device memory that the accumulations of one CUDA share.
// An accumulation plans its slabs against what is free and takes that
// much; when not even its thinnest slabs fit what is free it waits for
// others to give memory back. golang.org/x/sync/semaphore.Weighted would
// do the waiting, but it cannot say how much is free, which the planner
// needs to choose thicker or thinner slabs.
type budget struct {
	mu    sync.Mutex
	freed *sync.Cond
	total int64
	used  int64
}

func newBudget(total int64) *budget {
	b := &budget{total: total}
	b.freed = sync.NewCond(&b.mu)
	return b
}

// take plans with plan(free) against the memory free now and takes what
// the plan needs. While plan fails, it waits for memory to be returned; a
// plan that fails against the whole budget can never succeed and its error
// is returned.
func (b *budget) take(plan func(free int64) (int64, error)) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		need, err := plan(b.total - b.used)
		if err == nil {
			if need > b.total-b.used {
				return 0, fmt.Errorf("kernels: a plan of %d bytes exceeds the %d bytes free", need, b.total-b.used)
			}
			b.used += need
			return need, nil
		}
		if b.used == 0 {
			return 0, err
		}
		b.freed.Wait()
	}
}

// give returns n bytes taken earlier.
func (b *budget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.freed.Broadcast()
}
