package recon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/sinogram"
)

// DefaultScanWait is how long a job waits for its streamed scan to send
// anything new (its calibration, manifest or next frame) before it fails,
// when the job does not say (Job.ScanWaitS).
const DefaultScanWait = 10 * time.Minute

// ErrScanWait is wrapped by the error of a job whose streamed scan sent
// nothing new for longer than the job's scan wait. The message names the
// scan and lists the scans on the bus.
var ErrScanWait = errors.New("waited too long for the scan")

// CalibrationFolder is the Object Store folder in which the acquisition
// host puts a streamed scan's flat and dark frames and bad-pixel mask,
// before it streams the projections.
func CalibrationFolder(scanID string) string { return scanID + "-calibration" }

// streamSource is a scan streamed on the bus while it is acquired: the
// calibration folder first, then the manifest and the frames on SCANS. Each
// frame is written into dir as it arrives, so the pre-processing reads a
// streamed scan exactly as it reads a folder, and a view is handed on as
// soon as all its bins are there.
type streamSource struct {
	bus    *bus.Bus
	scanID string
	dir    string
	// wait is how long the scan may send nothing new before the job fails.
	wait time.Duration
	// onWait, if set, is called with true and a reason when the job starts
	// waiting for the scan to begin, and with false once its manifest is in.
	onWait func(waiting bool, reason string)
	// received counts the frames received, each once.
	received prometheus.Counter

	last    time.Time // when the scan last sent something new
	waiting bool
	frames  chan bus.Frame
	errc    chan error
	cancel  context.CancelFunc
	done    chan struct{} // closed when the consumer has stopped
	scan    *sinogram.Scan
}

func newStreamSource(b *bus.Bus, scanID, dir string, wait time.Duration, received prometheus.Counter, onWait func(bool, string)) *streamSource {
	if wait <= 0 {
		wait = DefaultScanWait
	}
	return &streamSource{bus: b, scanID: scanID, dir: dir, wait: wait, received: received, onWait: onWait}
}

// open fetches the calibration, starts consuming the scan and waits for its
// manifest.
func (s *streamSource) open(ctx context.Context) (*sinogram.Scan, error) {
	s.last = time.Now()
	if err := s.fetchCalibration(ctx); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	s.frames, s.errc = make(chan bus.Frame, 64), make(chan error, 1)
	go func() {
		defer close(s.done)
		s.errc <- s.bus.ConsumeScan(cctx, s.scanID, func(f bus.Frame) error {
			select {
			case s.frames <- f:
				return nil
			case <-cctx.Done():
				return bus.ErrStop
			}
		})
	}()
	f, err := s.next(ctx)
	if err != nil {
		return nil, err
	}
	if f.Kind != bus.KindManifest {
		return nil, fmt.Errorf("%w: scan %s: frame (bin %d, view %d) arrived before the manifest", sinogram.ErrManifest, s.scanID, f.Bin, f.View)
	}
	if err := writeAtomic(filepath.Join(s.dir, sinogram.ManifestName), f.Data); err != nil {
		return nil, err
	}
	if s.scan, err = sinogram.ReadManifest(s.dir); err != nil {
		return nil, err
	}
	s.setWaiting(ctx, false)
	return s.scan, nil
}

// close stops the scan's consumer and waits until it has.
func (s *streamSource) close() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

// fetchCalibration waits for the calibration folder and downloads it.
func (s *streamSource) fetchCalibration(ctx context.Context) error {
	name := CalibrationFolder(s.scanID)
	for {
		_, err := s.bus.GetFolder(ctx, name, s.dir)
		if !errors.Is(err, bus.ErrNotFound) {
			if err == nil {
				s.last = time.Now()
			}
			return err
		}
		s.setWaiting(ctx, true)
		if time.Since(s.last) > s.wait {
			return s.timeout(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the calibration of scan %s: %w", s.scanID, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// setWaiting tells onWait when the job starts or stops waiting for its
// scan to begin.
func (s *streamSource) setWaiting(ctx context.Context, waiting bool) {
	if waiting == s.waiting || s.onWait == nil {
		return
	}
	s.waiting = waiting
	reason := ""
	if waiting {
		reason = fmt.Sprintf("waiting for scan %s to start (fails after %v without it); scans on the bus: %s", s.scanID, s.wait, s.scansOnBus(ctx))
	}
	s.onWait(waiting, reason)
}

// scansOnBus lists the scans on the bus, for messages.
func (s *streamSource) scansOnBus(ctx context.Context) string {
	ids, err := s.bus.ListScans(ctx)
	switch {
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case len(ids) == 0:
		return "none"
	}
	return strings.Join(ids, ", ")
}

// timeout is the error of a scan that sent nothing new for too long.
func (s *streamSource) timeout(ctx context.Context) error {
	return fmt.Errorf("%w: scan %s sent nothing for %v; scans on the bus: %s", ErrScanWait, s.scanID, s.wait, s.scansOnBus(ctx))
}

// next returns the next message of the scan.
func (s *streamSource) next(ctx context.Context) (bus.Frame, error) {
	t := time.NewTimer(time.Until(s.last.Add(s.wait)))
	defer t.Stop()
	select {
	case f := <-s.frames:
		s.last = time.Now()
		return f, nil
	case err := <-s.errc:
		if err == nil {
			err = errors.New("the scan stream ended")
		}
		return bus.Frame{}, fmt.Errorf("scan %s: %w", s.scanID, err)
	case <-ctx.Done():
		return bus.Frame{}, ctx.Err()
	case <-t.C:
		return bus.Frame{}, s.timeout(ctx)
	}
}

// views writes each frame where the folder layout puts it and hands on
// each view once all its bins are written. A frame delivered twice (a
// re-publish after the deduplication window) is written again but counted
// once.
func (s *streamSource) views(ctx context.Context, fn func(view int) error) error {
	bins := len(s.scan.Bins)
	seen := make(map[[2]int]bool)
	have := make([]int, s.scan.Views)
	for done := 0; done < s.scan.Views; {
		f, err := s.next(ctx)
		if err != nil {
			return err
		}
		if f.Kind != bus.KindFrame {
			continue // a repeated manifest
		}
		if f.View < 0 || f.View >= s.scan.Views || f.Bin < 0 || f.Bin >= bins {
			return fmt.Errorf("%w: scan %s: frame for bin %d view %d, but the manifest has %d bins and %d views",
				sinogram.ErrFormat, s.scanID, f.Bin, f.View, bins, s.scan.Views)
		}
		if err := writeAtomic(s.scan.FramePath(sinogram.ProjectionFrame, f.View, f.Bin, 0, 0), f.Data); err != nil {
			return err
		}
		if seen[[2]int{f.Bin, f.View}] {
			continue
		}
		seen[[2]int{f.Bin, f.View}] = true
		s.received.Inc()
		if have[f.View]++; have[f.View] == bins {
			done++
			if err := fn(f.View); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAtomic writes data to path through a temporary file of its own, so
// a reader never sees half a file, and writers of the same file (two jobs
// of one scan on a worker) never share a temporary file.
func writeAtomic(path string, data []byte) error {
	return writeAtomicWith(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomicWith is writeAtomic for a file that encode writes: it is
// buffered, and a failed encode leaves what was at path.
func writeAtomicWith(path string, encode func(w io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	err = encode(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		err = fmt.Errorf("write %s: %w", path, err)
	}
	err = errors.Join(err, tmp.Chmod(0o644), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
