package kernels

import (
	"runtime"
	"sync"
)

// pinnedPool keeps the page-locked buffers of finished accumulations for
// the next ones. Page-locking is slow (the kernel pins every page; on the
// H200 machine here about a second per GiB), and a worker runs job after
// job of the same geometry, so it pays once, not per job.
type pinnedPool struct {
	mu    sync.Mutex
	free  [][]float32
	bytes int64
}

// maxPinnedPool bounds the page-locked memory kept between accumulations.
const maxPinnedPool = 4 << 30

// get returns a free buffer of at least n and at most 2n floats, the
// smallest there is, cut to n; or nil.
func (p *pinnedPool) get(n int) []float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := -1
	for i, b := range p.free {
		if c := cap(b); c >= n && c <= 2*n && (best < 0 || c < cap(p.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := p.free[best]
	p.free = append(p.free[:best], p.free[best+1:]...)
	p.bytes -= 4 * int64(cap(b))
	return b[:n]
}

// put keeps b for later and reports true, or reports false when the pool
// is full and the caller must free b.
func (p *pinnedPool) put(b []float32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+4*int64(cap(b)) > maxPinnedPool {
		return false
	}
	p.free = append(p.free, b[:cap(b)])
	p.bytes += 4 * int64(cap(b))
	return true
}

// drain empties the pool and returns what it held.
func (p *pinnedPool) drain() [][]float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.free
	p.free, p.bytes = nil, 0
	return out
}

// prefault touches one float of every page of vols, on every core, so
// that the volumes' memory is mapped before the device copies into it: in
// a virtual machine a first touch costs a fault each page, which made
// downloading a fresh 2 GiB of volumes take 1.6 s instead of 0.15 s.
func prefault(vols [][]float32) {
	const page, chunk = 1024, 1 << 22 // floats: 4 KiB and 16 MiB
	work := make(chan []float32)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for c := range work {
				for i := 0; i < len(c); i += page {
					c[i] = 0
				}
			}
		})
	}
	for _, v := range vols {
		for off := 0; off < len(v); off += chunk {
			work <- v[off:min(off+chunk, len(v))]
		}
	}
	close(work)
	wg.Wait()
}
