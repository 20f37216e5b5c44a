package kernels

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/fdktest"
)

// The fake GPU's checker itself: two streams writing the same bytes with
// no event between them are flagged, and the same writes ordered by an
// event are not. The accumulator tests rely on this to find races.
func TestFakeGPUFlagsUnorderedStreams(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		g := newFakeGPU(1 << 30)
		d := g.driver()
		var p devPtr
		var s1, s2, e uintptr
		d.cuMemAlloc(&p, 1024)
		d.cuStreamCreate(&s1, cuStreamNonBlocking)
		d.cuStreamCreate(&s2, cuStreamNonBlocking)
		d.cuEventCreate(&e, cuEventDisableTiming)
		d.cuMemsetD32Async(p, 1, 256, s1)
		if ordered {
			d.cuEventRecord(e, s1)
			d.cuStreamWaitEvent(s2, e, 0)
		}
		d.cuMemsetD32Async(p+512, 2, 128, s2)
		if got := len(g.violations) > 0; got == ordered {
			t.Errorf("ordered %v: violations %q", ordered, g.violations)
		}
	}
}

// openFakeWith is openFake on a given fake GPU, for tests that inject
// faults or look at the device.
func openFakeWith(t *testing.T, g *fakeGPU, opts Options) *CUDA {
	t.Helper()
	c, err := open(g.driver(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkFake reports the fake's ordering violations and what is alive
// beyond want and, while c is open, the page-locked buffers in c's pool.
func checkFake(t *testing.T, g *fakeGPU, c *CUDA, want ...string) {
	t.Helper()
	for _, v := range g.violations {
		t.Error("fake GPU:", v)
	}
	live := g.live()
	if c != nil {
		pooled := len(c.pinned.free)
		live = slices.DeleteFunc(live, func(s string) bool {
			if strings.HasPrefix(s, "pinned") && pooled > 0 {
				pooled--
				return true
			}
			return false
		})
		if pooled > 0 {
			t.Errorf("%d pooled page-locked buffers the device does not hold", pooled)
		}
	}
	if !slices.Equal(live, want) {
		t.Errorf("alive: %v, want %v", live, want)
	}
}

// An accumulation that fails at any driver call, or is aborted after any
// number of batches, releases every allocation, page-locked buffer, array,
// texture, module, stream and event, and gives its memory back to the
// budget: after 100 such jobs the device holds only its context.
func TestFailedAndAbortedJobsReleaseEverything(t *testing.T) {
	g := newFakeGPU(8 << 30)
	c := openFakeWith(t, g, Options{MemoryBudget: 1 << 30})
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 5))
	ops := []string{"cuMemAlloc", "cuMemHostAlloc", "cuArray3DCreate", "cuTexObjectCreate", "cuModuleLoadData",
		"cuModuleGetFunction", "cuStreamCreate", "cuEventCreate", "cuMemcpyHtoDAsync", "cuMemcpy3DAsync", "cuMemsetD32Async",
		"cuLaunchKernel", "cuEventRecord", "cuStreamWaitEvent", "cuEventSynchronize", "cuStreamSynchronize", "cuMemcpyDtoH"}
	failed, aborted := 0, 0
	for job := range 100 {
		geom, grid := randomGeometry(rng, 8+rng.IntN(40))
		c.opts.SlabPlanes = []int{0, 2}[rng.IntN(2)]
		c.poison = rng.IntN(2) == 0
		abortAfter := -1
		if job%2 == 0 {
			g.mu.Lock()
			g.failAt = map[string]int{ops[rng.IntN(len(ops))]: 1 + rng.IntN(6)}
			g.failCount = map[string]int{}
			g.mu.Unlock()
		} else {
			abortAfter = rng.IntN(4)
		}
		err := runJob(t, c, geom, grid, rng, abortAfter)
		switch {
		case abortAfter >= 0:
			aborted++
		case err != nil:
			failed++
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Name == "" {
				t.Errorf("job %d: error %v is not a named driver error", job, err)
			}
		}
		if c.budget.used != 0 {
			t.Fatalf("job %d: %d bytes of the budget still taken", job, c.budget.used)
		}
	}
	t.Logf("seed %d: %d jobs failed by an injected fault, %d aborted, %d calls", seed, failed, aborted, len(g.calls))
	// About half the faults land (a job may end before the nth call of
	// its op): 25 ± 3.5 of the 50 jobs with one.
	if failed < 10 || aborted < 40 {
		t.Errorf("only %d failed and %d aborted jobs: the faults missed", failed, aborted)
	}
	checkFake(t, g, c, "primary context retained 1 times")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	checkFake(t, g, nil)
}

// runJob starts a 2-bin accumulation on random views and finishes it, or
// aborts it after abortAfter batches when abortAfter >= 0.
func runJob(t *testing.T, c *CUDA, g *fdk.Geometry, grid fdk.Grid, rng *rand.Rand, abortAfter int) error {
	t.Helper()
	vs := views(t, g)
	acc, err := c.Start(vs, g.Detector, grid, 2)
	if err != nil {
		return err
	}
	images := randomImages(rng, len(vs), 2, g.Pixels())
	for v := 0; v < len(vs); v += 7 {
		if abortAfter == 0 {
			acc.Abort()
			acc.Abort() // twice is harmless
			return nil
		}
		abortAfter--
		var batch []fdk.Filtered
		for i := v; i < min(v+7, len(vs)); i++ {
			batch = append(batch, fdk.Filtered{View: i, Bins: images[i]})
		}
		if err := acc.Add(batch); err != nil {
			acc.Abort()
			return err
		}
	}
	if abortAfter >= 0 {
		acc.Abort()
		return nil
	}
	_, err = acc.Finish()
	acc.Abort() // after Finish: nothing to do
	return err
}

// Close waits for the accumulations still running: the context is
// released after their resources, and Start fails from the moment Close
// is called.
func TestCloseWaitsForRunningWork(t *testing.T) {
	g := newFakeGPU(8 << 30)
	c := openFakeWith(t, g, Options{})
	geom, grid := randomGeometry(rand.New(rand.NewPCG(3, 3)), 20)
	vs := views(t, geom)
	acc, err := c.Start(vs, geom.Detector, grid, 1)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error)
	go func() { closed <- c.Close() }()
	// Start fails once Close has begun; wait for that rather than sleep.
	for deadline := time.Now().Add(10 * time.Second); ; {
		other, err := c.Start(vs, geom.Detector, grid, 1)
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("Start during Close: %v, want ErrClosed", err)
		}
		other.Abort() // Close had not begun yet
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while an accumulation was running", err)
	default:
	}
	if _, err := acc.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	checkFake(t, g, nil)
}

// Accumulations sharing one device share its budget: each plans against
// what the others left, in thinner slabs where needed, and one for which
// not even the thinnest slabs are left waits for memory to be given back.
// Device memory in use never exceeds the budget.
func TestAccumulationsShareTheBudget(t *testing.T) {
	g := newFakeGPU(8 << 30)
	geom := fdktest.RTKGeometry(24, 360, 0, 32)
	grid := fdk.CenteredGrid([3]int{80, 80, 48}, [3]float64{1.5, 1.5, 1.5}, fdk.Vec3{})
	probe := newAccumulator(&CUDA{dev: &device{}, opts: Options{Shape: DefaultShape}}, views(t, geom), geom.Detector, grid, 1, nil)
	p, err := makePlan(probe.ms, grid, geom.Rows, probe.footprint, 1<<40, 0)
	if err != nil {
		t.Fatal(err)
	}
	whole := p.bytes
	budget := whole + whole/2 // one whole volume, not two
	c := openFakeWith(t, g, Options{MemoryBudget: budget})
	images := randomImages(rand.New(rand.NewPCG(6, 6)), 24, 1, geom.Pixels())
	start := func() *accumulator {
		acc, err := c.Start(views(t, geom), geom.Detector, grid, 1)
		if err != nil {
			t.Fatal(err)
		}
		return acc.(*accumulator)
	}
	finish := func(acc *accumulator) {
		for v := range images {
			if err := acc.Add([]fdk.Filtered{{View: v, Bins: images[v]}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := acc.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	first, second := start(), start()
	third := make(chan *accumulator)
	go func() {
		acc, err := c.Start(views(t, geom), geom.Detector, grid, 1)
		if err != nil {
			t.Error(err)
		}
		third <- acc.(*accumulator)
	}()
	finish(first)
	finish(second)
	last := <-third
	finish(last)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	slabs := []int{len(first.plan.slabs), len(second.plan.slabs), len(last.plan.slabs)}
	t.Logf("budget %d KiB, one volume's accumulation %d KiB; slabs per job %v; peak %d KiB", budget>>10, whole>>10, slabs, g.peak>>10)
	if slabs[0] != 1 || slabs[1] < 2 {
		t.Errorf("slabs per job %v: want the whole volume first, thinner slabs in what it left next", slabs)
	}
	if g.peak > budget+int64(3*matrixSlots*maxProjPerLaunch*48) {
		t.Errorf("peak device memory %d bytes over the budget of %d", g.peak, budget)
	}
	checkFake(t, g, nil)
}

// A GPU the PTX cannot run on, or one without room, is refused at Open
// with ErrNoDevice and the reason, so that --device auto uses the CPU.
func TestOpenRefusesUnusableGPU(t *testing.T) {
	old := newFakeGPU(8 << 30)
	old.cc = [2]int32{7, 5}
	full := newFakeGPU(512 << 20)
	for name, tc := range map[string]struct {
		g    *fakeGPU
		want string
	}{"Turing": {old, "compute capability 7.5"}, "full": {full, "MiB of free memory"}} {
		_, err := open(tc.g.driver(), Options{})
		if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrNoDevice naming %q", name, err, tc.want)
		}
		if live := tc.g.live(); len(live) > 0 {
			t.Errorf("%s: refused device left %v", name, live)
		}
	}
}

// Stage times come from timing events read after the streams finished,
// not from the host's clock around calls that only queue work.
func TestDeviceTimesFromEvents(t *testing.T) {
	g := newFakeGPU(8 << 30)
	c := openFakeWith(t, g, Options{})
	geom := fdktest.RTKGeometry(64, 360, 0, 48)
	grid := fdk.CenteredGrid([3]int{24, 24, 24}, [3]float64{4, 4, 4}, fdk.Vec3{})
	projs := randomImages(rand.New(rand.NewPCG(8, 8)), 64, 1, geom.Pixels())
	r, err := fdk.New(geom, grid, 1, fdk.Options{Backprojector: c})
	if err != nil {
		t.Fatal(err)
	}
	for v, p := range projs {
		if err := r.Add(v, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	dt := r.Timings().Device
	// The fake reports 0.25 ms per span: two launches of 32 views.
	if dt.Backproject != 500*time.Microsecond || dt.Filter != 500*time.Microsecond || dt.Upload != 500*time.Microsecond {
		t.Errorf("device times %+v, want 0.5 ms of upload, filter and back-projection", dt)
	}
	if r.Timings().Filter != 0 {
		t.Errorf("host filter time %v: the GPU filters", r.Timings().Filter)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	checkFake(t, g, nil)
}

// A worker's next job of the same geometry reuses the page-locked buffers
// of the last instead of pinning new ones.
func TestPageLockedBuffersAreReused(t *testing.T) {
	g := newFakeGPU(8 << 30)
	c := openFakeWith(t, g, Options{})
	rng := rand.New(rand.NewPCG(9, 9))
	geom, grid := randomGeometry(rng, 40)
	count := func() (n int) {
		for _, call := range g.calls {
			if strings.HasPrefix(call, "cuMemHostAlloc") {
				n++
			}
		}
		return n
	}
	var pinned []int
	for range 3 {
		if err := runJob(t, c, geom, grid, rng, -1); err != nil {
			t.Fatal(err)
		}
		pinned = append(pinned, count())
	}
	if pinned[0] == 0 || pinned[2] != pinned[0] {
		t.Errorf("page-locked allocations after each of three jobs: %v, want the first job's only", pinned)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	checkFake(t, g, nil)
}
