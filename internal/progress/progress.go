// Package progress shows how far along a task a user waits on is: on a
// terminal a bar that redraws itself in place
// (github.com/schollz/progressbar), and in a pipe or a log file a log line
// at every tenth of the way, so that a log holds a few lines rather than
// thousands of carriage returns. Either way 100 % is shown once.
//
// Log lines and bars share one Console: slog's handler writes through it,
// and a log line written while a bar is drawn goes above the bar, which is
// drawn again below it, instead of being glued to the bar's line.
package progress

import (
	"bytes"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// LogEvery is the longest time between two progress log lines while the
// task advances, for tasks whose tenths are far apart.
const LogEvery = 30 * time.Second

// Console is an output stream, typically stderr, shared by progress bars
// and log lines. It is safe for concurrent use.
type Console struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	bar      []byte // the line the bar drew last, while one is on screen
	log      *slog.Logger
}

// NewConsole returns a Console writing to w. Bars are drawn only when
// terminal is true (see IsTerminal); otherwise progress is logged to log
// (nil: slog.Default() at the time of each line).
func NewConsole(w io.Writer, terminal bool, log *slog.Logger) *Console {
	return &Console{w: w, terminal: terminal, log: log}
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Write writes p, one or more whole lines such as a log record, to the
// console: above the bar when one is drawn.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar == nil {
		return c.w.Write(p)
	}
	if _, err := io.WriteString(c.w, "\r\033[2K"); err != nil { // clear the bar's line
		return 0, err
	}
	n, err := c.w.Write(p)
	if err == nil {
		_, err = c.w.Write(c.bar)
	}
	return n, err
}

// Close ends the line of a bar left unfinished (its task failed), so that
// what is written after it starts on a line of its own.
func (c *Console) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar == nil {
		return nil
	}
	c.bar = nil
	_, err := io.WriteString(c.w, "\n")
	return err
}

// barWriter is what a bar draws with: it keeps the bar's last line so that
// Console.Write can draw it again below a log line.
type barWriter struct{ c *Console }

func (w barWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	switch {
	case bytes.HasSuffix(p, []byte("\n")): // the bar is finished
		w.c.bar = nil
	case len(bytes.Trim(p, "\r ")) > 0: // a drawing, not a clearing
		w.c.bar = append(w.c.bar[:0], p...)
	}
	return w.c.w.Write(p)
}

// Bar shows the progress of one task. It is safe for concurrent use.
type Bar struct {
	label, unit string
	total       int

	bar *progressbar.ProgressBar // on a terminal

	mu       sync.Mutex // the rest: when logging
	log      *slog.Logger
	start    time.Time
	lastLog  time.Time
	tenth    int // the last tenth logged
	lastDone int
	finished bool
}

// New returns a bar for a task of total steps of unit (e.g. "views"),
// named by label.
func (c *Console) New(label, unit string, total int) *Bar {
	b := &Bar{label: label, unit: unit, total: max(total, 1), start: time.Now()}
	if c.terminal {
		b.bar = progressbar.NewOptions(b.total,
			progressbar.OptionSetWriter(barWriter{c}),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionShowIts(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { barWriter{c}.Write([]byte("\n")) }))
		return b
	}
	b.log = c.log
	if b.log == nil {
		b.log = slog.Default()
	}
	b.tenth = -1
	return b
}

// Set reports done of total steps. Going past total counts as total; once
// total is reached, further calls show nothing.
func (b *Bar) Set(done int) {
	done = min(max(done, 0), b.total)
	if b.bar != nil {
		b.bar.Set(done)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	tenth := 10 * done / b.total
	if b.finished || tenth == b.tenth && (done == b.lastDone || now.Sub(b.lastLog) < LogEvery) {
		return
	}
	b.tenth, b.lastDone, b.lastLog, b.finished = tenth, done, now, done == b.total
	b.log.Info("progress", "task", b.label, "percent", 100*done/b.total, "done", done, "total", b.total,
		"unit", b.unit, "elapsed_s", math.Round(now.Sub(b.start).Seconds()*1000)/1000)
}
