//go:build !unix

package ann

import "time"

var start = time.Now()

// cpuSeconds returns the time since the program started: without
// getrusage the wall clock stands in for the CPU time.
func cpuSeconds() float64 { return time.Since(start).Seconds() }
