package kernels

import (
	"errors"

	"github.com/ctrecon/ctrecon/fdk"
)

// Stages an accumulation times on the device.
const (
	stageUpload = iota
	stageFilter
	stageBackproject
)

// stageTimer measures the device time of each stage with pairs of timing
// events recorded around its work on its stream. Calls return as soon as
// the work is queued, so a host clock would time the queueing, not the
// work. The events are read once the streams have finished (collect), then
// reused.
type stageTimer struct {
	dev   *device
	spare []uintptr // created, free to record
	all   []uintptr // every event created, for release
	spans []timedSpan
}

type timedSpan struct {
	stage      int
	start, end uintptr
}

// span queues work (on stream s, through f) between two timing events.
func (t *stageTimer) span(stage int, s uintptr, f func() error) error {
	start, err := t.event()
	if err != nil {
		return err
	}
	end, err := t.event()
	if err != nil {
		return err
	}
	t.spans = append(t.spans, timedSpan{stage, start, end})
	if err := t.dev.record(start, s); err != nil {
		return err
	}
	if err := f(); err != nil {
		return err
	}
	return t.dev.record(end, s)
}

// event returns a spare timing event or makes one.
func (t *stageTimer) event() (uintptr, error) {
	if n := len(t.spare); n > 0 {
		e := t.spare[n-1]
		t.spare = t.spare[:n-1]
		return e, nil
	}
	e, err := t.dev.timingEvent()
	if err == nil {
		t.all = append(t.all, e)
	}
	return e, err
}

// collect adds the times of every span to times. Every stream that
// recorded one must have finished.
func (t *stageTimer) collect(times *fdk.DeviceTimes) error {
	for _, sp := range t.spans {
		d, err := t.dev.elapsed(sp.start, sp.end)
		if err != nil {
			return err
		}
		switch sp.stage {
		case stageUpload:
			times.Upload += d
		case stageFilter:
			times.Filter += d
		case stageBackproject:
			times.Backproject += d
		}
		t.spare = append(t.spare, sp.start, sp.end)
	}
	t.spans = t.spans[:0]
	return nil
}

// release destroys every event.
func (t *stageTimer) release() error {
	var errs []error
	for _, e := range t.all {
		errs = append(errs, t.dev.destroyEvent(e))
	}
	t.all, t.spare, t.spans = nil, nil, nil
	return errors.Join(errs...)
}
