package recon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ctrecon/ctrecon/bus"
	"github.com/ctrecon/ctrecon/sinogram"
)

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

	frames chan bus.Frame
	errc   chan error
	cancel context.CancelFunc
	scan   *sinogram.Scan
}

func newStreamSource(b *bus.Bus, scanID, dir string) *streamSource {
	return &streamSource{bus: b, scanID: scanID, dir: dir}
}

// open fetches the calibration, starts consuming the scan and waits for its
// manifest.
func (s *streamSource) open(ctx context.Context) (*sinogram.Scan, error) {
	if err := s.fetchCalibration(ctx); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	s.cancel, s.frames, s.errc = cancel, make(chan bus.Frame, 64), make(chan error, 1)
	go func() {
		s.errc <- s.bus.ConsumeScan(cctx, s.scanID, func(f bus.Frame) error {
			select {
			case s.frames <- f:
				return nil
			case <-cctx.Done():
				return bus.ErrStop
			}
		})
	}()
	for {
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
		return s.scan, nil
	}
}

// fetchCalibration waits for the calibration folder and downloads it.
func (s *streamSource) fetchCalibration(ctx context.Context) error {
	name := CalibrationFolder(s.scanID)
	for {
		_, err := s.bus.GetFolder(ctx, name, s.dir)
		if !errors.Is(err, bus.ErrNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the calibration of scan %s: %w", s.scanID, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// next returns the next message of the scan.
func (s *streamSource) next(ctx context.Context) (bus.Frame, error) {
	select {
	case f := <-s.frames:
		return f, nil
	case err := <-s.errc:
		if err == nil {
			err = errors.New("the scan stream ended")
		}
		return bus.Frame{}, fmt.Errorf("scan %s: %w", s.scanID, err)
	case <-ctx.Done():
		return bus.Frame{}, ctx.Err()
	}
}

// views writes each frame where the folder layout puts it and hands on
// each view once all its bins are written. A frame delivered twice (a
// re-publish after the deduplication window) is written again but counted
// once.
func (s *streamSource) views(ctx context.Context, fn func(view int) error) error {
	defer s.cancel()
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
		if have[f.View]++; have[f.View] == bins {
			done++
			if err := fn(f.View); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAtomic writes data to path through a temporary file, so a reader
// never sees half a frame.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".part"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
