// Package parallel runs the iterations of a loop on several goroutines.
package parallel

import (
	"sync"
	"sync/atomic"
)

// For calls fn(i) for every i in [0, n) on up to threads goroutines (at
// least one), handing out indices in order from a shared counter, and
// returns when every call has returned.
func For(n, threads int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(threads, 1), n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}
