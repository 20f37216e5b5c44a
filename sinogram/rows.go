package sinogram

import (
	"fmt"
	"io"
	"os"

	"github.com/ctrecon/ctrecon/fdk"
)

// ProjectionRows reads rows b of view i's line integrals, in (1/mm) × mm,
// row-major Cols x b.Count: only those bytes of the .pfm are read, so that
// a slab of a volume larger than memory reads only the rows it needs. The
// file must still be as large as its header says.
func (f *Folder) ProjectionRows(i int, b fdk.RowBand) ([]float32, error) {
	if i < 0 || i >= len(f.images) {
		return nil, fmt.Errorf("projection %d out of range [0, %d)", i, len(f.images))
	}
	name := f.images[i]
	cols, rows := f.Geometry.Cols, f.Geometry.Rows
	if b.First < 0 || b.Count < 1 || b.End() > rows {
		return nil, fmt.Errorf("%s: %v of %d rows", name, b, rows)
	}
	file, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	head := make([]byte, 128)
	n, _ := io.ReadFull(file, head)
	c, r, body, err := parsePFMHeader(name, head[:n])
	if err != nil {
		return nil, err
	}
	if c != cols || r != rows {
		return nil, fmt.Errorf("%w: %s: now %dx%d pixels, was %dx%d when opened", ErrFormat, name, c, r, cols, rows)
	}
	start := int64(n - len(body)) // the header's length
	if fi, err := file.Stat(); err != nil {
		return nil, err
	} else if want := start + 4*int64(cols*rows); fi.Size() != want {
		return nil, fmt.Errorf("%w: %s: %d bytes of pixel data, want %d for %dx%d", ErrFormat, name, fi.Size()-start, want-start, cols, rows)
	}
	data := make([]byte, 4*cols*b.Count)
	if _, err := file.ReadAt(data, start+4*int64(cols*b.First)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return decodePFM(name, data, cols, b.First)
}
