// Package progress draws a one-line text progress bar for things a user
// waits on.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Bar redraws itself in place with a carriage return, at most ten times a
// second, so a fast loop does not flood a slow terminal.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	unit  string
	total int
	start time.Time
	last  time.Time
}

// New returns a bar for total steps of unit (e.g. "views").
func New(w io.Writer, label, unit string, total int) *Bar {
	return &Bar{w: w, label: label, unit: unit, total: total, start: time.Now()}
}

// Set reports done of total steps.
func (b *Bar) Set(done int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if done < b.total && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	const width = 30
	frac := 0.0
	if b.total > 0 {
		frac = float64(done) / float64(b.total)
	}
	n := int(frac * width)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %d/%d %s %.1fs", b.label, strings.Repeat("#", n), strings.Repeat(".", width-n),
		100*frac, done, b.total, b.unit, now.Sub(b.start).Seconds())
	if done >= b.total {
		fmt.Fprintln(b.w)
	}
}
