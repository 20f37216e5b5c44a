package recon

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/sinogram"
)

// A job with Slabs > 1 (or SlabsAuto) is split along z across workers. The
// worker that takes the job (its coordinator) reads the scan's manifest,
// chooses the grid, and queues one task per slab (SlabTask) on the work
// queue; any worker, the coordinator's too, takes any slab, reconstructs
// only its slices (fdk.Grid.Slab: bit for bit the whole grid's), within
// max_memory_bytes in parts one after another, and streams its volumes
// into the object store under a name of its attempt (bus.SlabObject) as
// they are made, then writes the slab's done status naming that object
// and itself. A slab follows its job's status and stops when the job is
// cancelled or fails (claim.follow). A slab is claimed and fenced like a job (claimJob on its
// key, bus.SlabKey), so a slab whose worker died or failed is redelivered
// alone and a slab done twice has one result, the one its status names.
// The coordinator waits for every slab, counting them in the job's status
// (bus.Status.Slabs, SlabsDone), assembles the volumes into the whole grid
// (or, when max_memory_bytes cannot hold it, writes them a slab of its plan
// at a time: runner.reconstructSlabs) and carries on as one worker would
// (calibration, DICOM, previews, features, report) in its staging folder,
// committed once. A coordinator
// that dies is redelivered: its successor queues the tasks again (dropped
// as duplicates, or found done) and uses the slabs done already.

// SlabTask is the work queue message of one slab of a job.
type SlabTask struct {
	Job   Job `json:"job"`
	Index int `json:"index"` // from 0
	Total int `json:"total"`
	// Grid is the whole job's grid, which the task's worker checks against
	// the one the job gives on the scan; Slices its slices z0 ≤ z < z1.
	// The slab grid itself is not sent: marshalled, it would lose its
	// place in the whole grid, and with it the bit-for-bit equality.
	Grid   fdk.Grid `json:"grid"`
	Slices [2]int   `json:"slices"`
}

// SlabReport is one slab of a job reconstructed in slabs, in its report:
// across workers (Job.Slabs, slabs.go) or in turn within max_memory_bytes
// (memory.go).
type SlabReport struct {
	Index  int    `json:"index"`
	Slices [2]int `json:"slices"` // z0 ≤ z < z1 of the whole grid
	// Rows are the detector rows the slab read, for a slab of
	// max_memory_bytes (its views read in row bands).
	Rows *fdk.RowBand `json:"rows,omitempty"`
	// Worker names the worker that reconstructed a slab of a split job:
	// host/process/worker; Device its back-projector.
	Worker string `json:"worker,omitempty"`
	Device string `json:"device,omitempty"`
	// Seconds is the slab's wall time: for a split job's slab task,
	// reading the scan, reconstructing and storing the volumes.
	Seconds float64 `json:"seconds"`
	// Parts are the slabs within max_memory_bytes that a split job's slab
	// task reconstructed in turn, when more than one.
	Parts []SlabReport `json:"parts,omitempty"`
}

// errSlab is wrapped by the error of a job one of whose slabs failed for
// good (after its own retries).
var errSlab = errors.New("slab failed")

// slabRanges splits nz slices into n slabs of whole slices, as even as
// can be, the larger first: [z0, z1) each, continuous from 0 to nz.
func slabRanges(nz, n int) [][2]int {
	out := make([][2]int, n)
	z := 0
	for i := range out {
		size := nz / n
		if i < nz%n {
			size++
		}
		out[i] = [2]int{z, z + size}
		z += size
	}
	return out
}

// WorkerName names worker number n of this process in a split job's
// report: host/process ID/n.
func WorkerName(n int) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%d", host, os.Getpid(), n)
}

// name returns the worker's Name, or host/process ID/0.
func (w *Worker) name() string {
	if w.Name == "" {
		return WorkerName(0)
	}
	return w.Name
}

// splitStep returns what has a split job's slabs made for its
// coordinator (Options.split): queue them, wait for them while the worker
// takes other tasks, put them in the report and open their volumes.
func (w *Worker) splitStep(c *claim, s *slot, log *slog.Logger) func(context.Context, *runner) (io.ReadCloser, error) {
	return func(ctx context.Context, r *runner) (io.ReadCloser, error) {
		r.src.close() // the slabs' workers read the views
		ranges := r.tasks
		if ranges == nil {
			ranges = slabRanges(r.grid.Dim[2], int(r.job.Slabs))
		}
		for i, z := range ranges {
			spec, err := json.Marshal(SlabTask{Job: r.job, Index: i, Total: len(ranges), Grid: r.grid, Slices: z})
			if err != nil {
				return nil, err
			}
			if _, err := w.Bus.SubmitSlab(ctx, r.job.ID, i, spec); err != nil {
				return nil, err
			}
		}
		log.Info("queued the job's slabs", "slabs", len(ranges))
		s.detach() // this worker takes slabs too meanwhile
		done, err := waitSlabs(ctx, w.Bus, r.job.ID, len(ranges), c)
		s.attach()
		if err != nil {
			return nil, err
		}
		if err := r.reportSlabs(ranges, done); err != nil {
			return nil, err
		}
		return &slabObjects{ctx: ctx, bus: w.Bus, ranges: ranges, done: done, slice: r.sliceBytes()}, nil
	}
}

// slabPoll is how often a coordinator looks at its slabs' statuses.
const slabPoll = 200 * time.Millisecond

// waitSlabs waits until each of total slabs of job id is done, keeping the
// count in the job's status, and returns their done statuses. A slab that
// failed for good fails the job.
func waitSlabs(ctx context.Context, b *bus.Bus, id string, total int, c *claim) ([]bus.Status, error) {
	done := make([]bus.Status, total)
	count, shown := 0, -1
	for {
		for i := range done {
			if done[i].State == bus.StateDone {
				continue
			}
			st, err := b.GetStatus(ctx, bus.SlabKey(id, i))
			switch {
			case errors.Is(err, bus.ErrNotFound):
			case err != nil:
				return nil, err
			case st.State == bus.StateDone:
				done[i] = st
				count++
			case st.State == bus.StateFailed:
				return nil, fmt.Errorf("%w: slab %d of %d: %s", errSlab, i, total, st.Reason)
			}
		}
		if count != shown {
			shown = count
			err := c.put(ctx, bus.Status{State: bus.StateRunning, Stage: "slabs", Progress: float64(count) / float64(total),
				Slabs: total, SlabsDone: count})
			if errors.Is(err, errLost) {
				return nil, err
			}
		}
		if count == total {
			return done, nil
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(slabPoll):
		}
	}
}

// reportSlabs puts the slabs of a split job, as their done statuses
// tell them, in the report: each slab's worker, device, seconds and parts,
// and the pre-processing counts, once (every slab pre-processes every
// view whole, so each counts the whole scan).
func (r *runner) reportSlabs(ranges [][2]int, done []bus.Status) error {
	for i, st := range done {
		var d slabDone
		if len(st.Report) > 0 {
			if err := json.Unmarshal(st.Report, &d); err != nil {
				return fmt.Errorf("slab %d: its report: %w", i, err)
			}
		}
		if i == 0 {
			r.rep.Preprocessing = d.Preprocessing
		}
		r.rep.Slabs = append(r.rep.Slabs, SlabReport{Index: i, Slices: ranges[i], Worker: st.Worker, Device: st.Device,
			Seconds: st.TotalSeconds(), Parts: d.Parts})
	}
	r.clampedWarning()
	return nil
}

// slabDone is what a slab task tells its job's report, in the slab's done
// status (bus.Status.Report).
type slabDone struct {
	Preprocessing sinogram.Report `json:"preprocessing"`
	// Parts are the slabs of max_memory_bytes the task reconstructed in
	// turn, when more than one.
	Parts []SlabReport `json:"parts,omitempty"`
}

// sliceBytes is the size of one slice of every bin's volume as a slab's
// object holds it (writeSlab).
func (r *runner) sliceBytes() int64 {
	return 4 * int64(len(r.bins)) * int64(r.grid.Dim[0]) * int64(r.grid.Dim[1])
}

// slabObjects reads the objects of a split job's slabs, in order, as one
// stream: the whole volumes, slice after slice (writeSlab). It checks each
// object's size against its slices as it opens it.
type slabObjects struct {
	ctx    context.Context
	bus    *bus.Bus
	ranges [][2]int
	done   []bus.Status // naming the objects
	slice  int64        // bytes a slice
	next   int          // the slab to open next
	cur    io.ReadCloser
}

func (s *slabObjects) Read(p []byte) (int, error) {
	for {
		if s.cur == nil {
			if s.next == len(s.done) {
				return 0, io.EOF
			}
			if err := s.open(); err != nil {
				return 0, err
			}
		}
		n, err := s.cur.Read(p)
		if err == io.EOF {
			err = s.cur.Close()
			s.cur = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// open opens the next slab's object.
func (s *slabObjects) open() error {
	i, name := s.next, s.done[s.next].Output
	r, size, err := s.bus.OpenSlab(s.ctx, name)
	if err != nil {
		return fmt.Errorf("slab %d: %w", i, err)
	}
	z := s.ranges[i]
	if want := s.slice * int64(z[1]-z[0]); size != want {
		r.Close()
		return fmt.Errorf("slab %d (%s): %d bytes for slices [%d, %d): want %d", i, name, size, z[0], z[1], want)
	}
	s.cur, s.next = r, i+1
	return nil
}

// Close closes the object being read.
func (s *slabObjects) Close() error {
	if s.cur == nil {
		return nil
	}
	return s.cur.Close()
}

// readSplit has a split job's slabs made (Options.split) and reads their
// volumes in chunks, as readSlabs does.
func (r *runner) readSplit(ctx context.Context, chunks [][2]int, done func(vols []*fdk.Volume, fov *fdk.FOV) error) error {
	in, err := r.opts.split(ctx, r)
	if err != nil {
		return err
	}
	defer in.Close()
	return r.readSlabs(in, chunks, done)
}

// readSlabs reads the whole grid's volumes from in (slabObjects) in
// chunks of the given slices, in order, and hands each chunk's volumes,
// one per bin, and field of view (nil with keep_outside_fov) to done; the
// stream must end with the last. A chunk of the whole grid has r's grid.
func (r *runner) readSlabs(in io.Reader, chunks [][2]int, done func(vols []*fdk.Volume, fov *fdk.FOV) error) error {
	for _, z := range chunks {
		grid := r.grid
		if z != [2]int{0, r.grid.Dim[2]} {
			var err error
			if grid, err = r.grid.Slab(z[0], z[1]); err != nil {
				return err
			}
		}
		vols := make([]*fdk.Volume, len(r.bins))
		for i := range vols {
			vols[i] = fdk.NewVolume(grid)
		}
		if err := readSlab(in, vols); err != nil {
			return fmt.Errorf("slices [%d, %d): %w", z[0], z[1], err)
		}
		var fov *fdk.FOV
		if !r.job.KeepOutsideFOV {
			var err error
			if fov, err = fdk.GeometryFOV(&r.scan.Geometry, grid); err != nil {
				return err
			}
		}
		if err := done(vols, fov); err != nil {
			return err
		}
	}
	// The read past the end also checks the last object's digest.
	switch n, err := in.Read(make([]byte, 1)); {
	case n > 0:
		return fmt.Errorf("the slabs hold more than the grid's %d slices", r.grid.Dim[2])
	case err != io.EOF:
		return err
	}
	return nil
}

// writeSlab writes the volumes of a slab, one per bin, slice after slice
// and each slice bin after bin (eachPlane), as little-endian float32: the
// slabs of a slab written in turn are the slab's own encoding.
func writeSlab(w io.Writer, vols []*fdk.Volume) error {
	var buf []byte
	return eachPlane(vols, func(plane []float32) error {
		buf = buf[:0]
		for _, x := range plane {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		_, err := w.Write(buf)
		return err
	})
}

// readSlab reads the volumes vols, one per bin, as writeSlab wrote them.
func readSlab(r io.Reader, vols []*fdk.Volume) error {
	var buf []byte
	return eachPlane(vols, func(plane []float32) error {
		buf = slices.Grow(buf[:0], 4*len(plane))[:4*len(plane)]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		for k := range plane {
			plane[k] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*k:]))
		}
		return nil
	})
}

// eachPlane calls fn with every z plane of vols (volumes of one grid, one
// per bin): slice after slice, and each slice bin after bin.
func eachPlane(vols []*fdk.Volume, fn func(plane []float32) error) error {
	g := vols[0].Grid
	n := g.Dim[0] * g.Dim[1]
	for z := range g.Dim[2] {
		for _, v := range vols {
			if err := fn(v.Data[z*n : (z+1)*n]); err != nil {
				return err
			}
		}
	}
	return nil
}

// storeSlab stores what write writes as object name, as it writes it.
func storeSlab(ctx context.Context, b *bus.Bus, name string, write func(io.Writer) error) error {
	pr, pw := io.Pipe()
	put := make(chan error, 1)
	go func() {
		err := b.PutSlab(ctx, name, pr)
		pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe)) // a write after a failed put fails
		put <- err
	}()
	err := write(pw)
	pw.CloseWithError(err) // nil: the object ends here
	if perr := <-put; err == nil {
		err = perr
	}
	return err
}

// slabAttempt reconstructs one slab task of a split job and stores its
// volumes, and returns the slab's done status. A task of a job that is
// over (cancelled, failed) fails for good without work.
func (w *Worker) slabAttempt(ctx context.Context, j *bus.Job, c *claim, s *slot, log *slog.Logger) (bus.Status, error) {
	start := time.Now()
	var task SlabTask
	if err := json.Unmarshal(j.Spec, &task); err != nil {
		return bus.Status{}, fmt.Errorf("%w: slab task %s: %v", ErrJob, j.ID, err)
	}
	job := &task.Job
	if err := job.Validate(); err != nil {
		return bus.Status{}, err
	}
	if st, err := w.Bus.GetStatus(ctx, job.ID); err == nil && st.State.Final() {
		return bus.Status{}, fmt.Errorf("%w: slab %d: job %s is %s already", ErrJob, task.Index, job.ID, st.State)
	}
	if _, err := task.Grid.Slab(task.Slices[0], task.Slices[1]); err != nil {
		return bus.Status{}, fmt.Errorf("%w: slab %d: %w", ErrJob, task.Index, err)
	}
	bp, err := job.backprojector(w.Backprojector)
	if err != nil {
		return bus.Status{}, err
	}
	src, err := w.source(ctx, job, c, s)
	if err != nil {
		return bus.Status{}, err
	}
	r := newRunner(*job, Options{Backprojector: bp, Log: log}, src, w.Dir) // only its line integrals cache goes there
	name := bus.SlabObject(job.ID, task.Index, c.attempt)
	err = storeSlab(ctx, w.Bus, name, func(out io.Writer) error {
		return reconstructSlab(ctx, r, task.Grid, task.Slices, out)
	})
	if err != nil {
		return bus.Status{}, fmt.Errorf("job %s: slab %d: %w", job.ID, task.Index, err)
	}
	d := slabDone{Preprocessing: r.rep.Preprocessing}
	if len(r.rep.Slabs) > 1 {
		d.Parts = r.rep.Slabs
	}
	report, err := json.Marshal(d)
	if err != nil {
		return bus.Status{}, err
	}
	return bus.Status{State: bus.StateDone, Progress: 1, Device: bp.Name(), Worker: w.name(), Output: name, Report: report,
		Timings: map[string]float64{"slab": time.Since(start).Seconds()}}, nil
}

// reconstructSlab reads r's scan and reconstructs slices z0 ≤ z < z1 of
// grid, the grid the job gives on it, writing the volumes to out
// (writeSlab) as they are made: in one piece, or within the job's
// max_memory_bytes in the slabs of its plan, in turn, each from only the
// detector rows its voxels read (fdk.NeededRows). Each view is
// pre-processed whole and cropped to them, and the back-projection, bit for
// bit the whole grid's, costs the slab's share.
func reconstructSlab(ctx context.Context, r *runner, grid fdk.Grid, z [2]int, out io.Writer) error {
	defer r.src.close()
	if err := r.read(ctx); err != nil {
		return err
	}
	if r.grid != grid {
		return fmt.Errorf("%w: the task's grid %v is not the job's on the scan, %v", ErrJob, grid, r.grid)
	}
	if err := r.prepare(); err != nil {
		return err
	}
	plan, err := r.slabPlan(grid, z)
	if err != nil {
		return err
	}
	return r.inTurn(ctx, plan, func(vols []*fdk.Volume, _ *fdk.FOV) error { return writeSlab(out, vols) })
}

// slabPlan plans the reconstruction of slices z0 ≤ z < z1 of grid: in
// slabs within the job's max_memory_bytes, or in one.
func (r *runner) slabPlan(grid fdk.Grid, z [2]int) (*fdk.SlabPlan, error) {
	slab, err := grid.Slab(z[0], z[1])
	if err != nil {
		return nil, err
	}
	g := &r.scan.Geometry
	if r.job.MaxMemoryBytes == 0 {
		rows, err := fdk.NeededRows(g, slab)
		return &fdk.SlabPlan{Slabs: []fdk.Slab{{Z0: z[0], Z1: z[1], Rows: rows}}}, err
	}
	plan, err := r.job.planSlabs(g, slab, len(r.bins), r.opts.Backprojector)
	for i := range plan.Slabs { // from the slab's slices to the grid's
		plan.Slabs[i].Z0 += z[0]
		plan.Slabs[i].Z1 += z[0]
	}
	return &plan, err
}
