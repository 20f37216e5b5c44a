package kernels

import "runtime"

// thread runs every CUDA call of one device on one OS thread. The driver
// keeps the current context per OS thread, and Go moves goroutines between
// threads at will: a goroutine locked to its thread, serving a channel of
// calls, is the one place where the context stays current.
type thread struct {
	calls chan func()
}

func startThread() *thread {
	t := &thread{calls: make(chan func())}
	go t.serve()
	return t
}

// serve never unlocks: when the channel closes the goroutine exits locked,
// and Go ends its OS thread, taking the thread-bound context binding with
// it.
func (t *thread) serve() {
	runtime.LockOSThread()
	for f := range t.calls {
		f()
	}
}

// do runs f on the thread and waits for it.
func (t *thread) do(f func() error) error {
	errc := make(chan error, 1)
	t.calls <- func() { errc <- f() }
	return <-errc
}

// stop ends the thread once the calls already queued have run.
func (t *thread) stop() { close(t.calls) }
