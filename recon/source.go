package recon

import (
	"context"

	"github.com/ctrecon/ctrecon/sinogram"
)

// source is where a job's scan comes from: a folder on disk, or frames
// streamed from the scanner as it scans.
type source interface {
	// open returns the scan's manifest once it is known, with its
	// calibration frames readable.
	open(ctx context.Context) (*sinogram.Scan, error)
	// views calls fn with each view whose frames of every bin are readable,
	// as soon as they are, until every view has been given.
	views(ctx context.Context, fn func(view int) error) error
	// close releases what open started; it may be called before open
	// and more than once.
	close()
}

// folderSource is a complete scan folder: every view is there already.
type folderSource struct{ dir string }

// open reads the scan; a plastimatch folder, which only Run reconstructs,
// is refused as the job's input.
func (f folderSource) open(context.Context) (*sinogram.Scan, error) {
	if !isSpectral(f.dir) && isPlastimatch(f.dir) {
		return nil, jobErr("input", "%s is a plastimatch projection folder, which a worker does not take: reconstruct it with ctrecon recon", f.dir)
	}
	return sinogram.ReadScan(f.dir)
}

func (folderSource) close() {}

func (f folderSource) views(ctx context.Context, fn func(view int) error) error {
	scan, err := sinogram.ReadManifest(f.dir)
	if err != nil {
		return err
	}
	for v := range scan.Views {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}
