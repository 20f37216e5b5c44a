package recon

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/fdk"
)

// A job with Slabs > 1 is split along z across workers. The worker that
// takes the job (its coordinator) reads the scan's manifest, chooses the
// grid, and queues one task per slab (SlabTask) on the work queue; any
// worker, the coordinator's too, takes any slab, reconstructs only its
// slices (fdk.Grid.Slab: bit for bit the whole grid's) and puts its
// volumes into the object store under a name of its attempt
// (bus.SlabObject), then writes the slab's done status naming that object
// and itself. A slab is claimed and fenced like a job (claimJob on its
// key, bus.SlabKey), so a slab whose worker died or failed is redelivered
// alone and a slab done twice has one result, the one its status names.
// The coordinator waits for every slab, counting them in the job's status
// (bus.Status.Slabs, SlabsDone), assembles the volumes into the whole grid
// and carries on as one worker would (calibration, DICOM, previews,
// features, report) in its staging folder, committed once. A coordinator
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

// splitStep returns the reconstruct step of a split job's coordinator:
// queue the slabs, wait for them while the worker takes other tasks, and
// assemble their volumes into r.
func (w *Worker) splitStep(c *claim, s *slot, log *slog.Logger) func(context.Context, *runner) error {
	return func(ctx context.Context, r *runner) error {
		r.src.close() // the slabs' workers read the views
		ranges := slabRanges(r.grid.Dim[2], r.job.Slabs)
		for i, z := range ranges {
			spec, err := json.Marshal(SlabTask{Job: r.job, Index: i, Total: len(ranges), Grid: r.grid, Slices: z})
			if err != nil {
				return err
			}
			if _, err := w.Bus.SubmitSlab(ctx, r.job.ID, i, spec); err != nil {
				return err
			}
		}
		log.Info("queued the job's slabs", "slabs", len(ranges))
		s.detach() // this worker takes slabs too meanwhile
		done, err := waitSlabs(ctx, w.Bus, r.job.ID, len(ranges), c)
		s.attach()
		if err != nil {
			return err
		}
		return assemble(ctx, w.Bus, r, ranges, done)
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

// assemble puts the volumes of the slabs, as their done statuses name
// them, into whole volumes of r's grid, and the field of view into r.
func assemble(ctx context.Context, b *bus.Bus, r *runner, ranges [][2]int, done []bus.Status) error {
	vols := make([]*fdk.Volume, len(r.bins))
	for i := range vols {
		vols[i] = fdk.NewVolume(r.grid)
	}
	for i, st := range done {
		data, err := b.GetSlab(ctx, st.Output)
		if err != nil {
			return err
		}
		if err := placeSlab(vols, ranges[i], data); err != nil {
			return fmt.Errorf("slab %d (%s): %w", i, st.Output, err)
		}
		r.rep.Slabs = append(r.rep.Slabs, SlabReport{Index: i, Slices: ranges[i], Worker: st.Worker, Device: st.Device,
			Seconds: st.TotalSeconds()})
	}
	r.vols = vols
	if r.job.KeepOutsideFOV {
		return nil
	}
	fov, err := fdk.GeometryFOV(&r.scan.Geometry, r.grid)
	r.fov = fov
	return err
}

// encodeSlab writes the volumes of a slab, bin after bin, as
// little-endian float32.
func encodeSlab(vols []*fdk.Volume) []byte {
	var n int
	for _, v := range vols {
		n += len(v.Data)
	}
	out := make([]byte, 0, 4*n)
	for _, v := range vols {
		for _, x := range v.Data {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
		}
	}
	return out
}

// placeSlab copies a slab's encoded volumes (encodeSlab) into slices
// z[0] ≤ k < z[1] of the whole volumes, one per bin.
func placeSlab(vols []*fdk.Volume, z [2]int, data []byte) error {
	g := vols[0].Grid
	plane := g.Dim[0] * g.Dim[1]
	lo, hi := z[0]*plane, z[1]*plane
	if want := 4 * len(vols) * (hi - lo); len(data) != want || z[0] < 0 || z[1] > g.Dim[2] {
		return fmt.Errorf("%d bytes for slices [%d, %d) of %d bins of %v: want %d", len(data), z[0], z[1], len(vols), g, want)
	}
	for _, v := range vols {
		dst := v.Data[lo:hi]
		for k := range dst {
			dst[k] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*k:]))
		}
		data = data[4*len(dst):]
	}
	return nil
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
	r := newRunner(*job, Options{Backprojector: bp, Log: log}, src, "")
	if err := reconstructSlab(ctx, r, task.Grid, task.Slices); err != nil {
		return bus.Status{}, fmt.Errorf("job %s: slab %d: %w", job.ID, task.Index, err)
	}
	if err := c.check(ctx); err != nil {
		return bus.Status{}, err
	}
	name := bus.SlabObject(job.ID, task.Index, c.attempt)
	if err := w.Bus.PutSlab(ctx, name, encodeSlab(r.vols)); err != nil {
		return bus.Status{}, err
	}
	return bus.Status{State: bus.StateDone, Progress: 1, Device: bp.Name(), Worker: w.name(), Output: name,
		Timings: map[string]float64{"slab": time.Since(start).Seconds()}}, nil
}

// reconstructSlab reads r's scan and reconstructs slices z0 ≤ z < z1 of
// grid, the grid the job gives on it, into r.vols, from only the detector rows the
// slab's voxels read (fdk.NeededRows): each view is pre-processed whole
// and cropped to them, and the back-projection, bit for bit the whole
// grid's, costs the slab's share.
func reconstructSlab(ctx context.Context, r *runner, grid fdk.Grid, z [2]int) error {
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
	slab, err := grid.Slab(z[0], z[1])
	if err != nil {
		return err
	}
	g := &r.scan.Geometry
	rows, err := fdk.NeededRows(g, slab)
	if err != nil {
		return err
	}
	plan := &fdk.SlabPlan{Slabs: []fdk.Slab{{Z0: z[0], Z1: z[1], Rows: rows}}}
	views := func(fn func(v int) error) error { return r.src.views(ctx, fn) }
	return r.job.eachSlab(ctx, g, plan, len(r.bins), r.opts, r.rep, views, r.bandReader(func() bool { return true }),
		func(vols []*fdk.Volume, _ *fdk.FOV) error {
			r.vols = vols
			return nil
		})
}
