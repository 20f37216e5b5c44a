package recon

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"github.com/ctrecon/ctrecon/fdk"
)

// lineCache keeps the line integrals that the first of several slabs
// reconstructed in turn makes of every view, whole, in a temporary file,
// so that the later slabs read back only their band of rows instead of
// pre-processing every frame again: the same float32 values, so the same
// volumes bit for bit. It costs 4 bytes per pixel, view and bin of disk
// (2.3 GB a bin for 720 views of 1024x768) and no memory beyond a view.
type lineCache struct {
	f          *os.File
	cols, rows int
	bins       int
}

// newLineCache makes the file, in dir (empty: os.TempDir), for bins bins
// of g's views.
func newLineCache(dir string, g *fdk.Geometry, bins int) (*lineCache, error) {
	f, err := os.CreateTemp(dir, ".ctrecon-line-integrals-*")
	if err != nil {
		return nil, fmt.Errorf("line integrals cache: %w", err)
	}
	return &lineCache{f: f, cols: g.Cols, rows: g.Rows, bins: bins}, nil
}

// offset is where row row of bin i of view v starts, in bytes.
func (c *lineCache) offset(v, i, row int) int64 {
	return 4 * (int64(v*c.bins+i)*int64(c.rows) + int64(row)) * int64(c.cols)
}

// put keeps view v's whole images, one per bin.
func (c *lineCache) put(v int, imgs [][]float32) error {
	buf := make([]byte, 0, 4*c.cols*c.rows)
	for i, img := range imgs {
		buf = buf[:0]
		for _, x := range img {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		if _, err := c.f.WriteAt(buf, c.offset(v, i, 0)); err != nil {
			return fmt.Errorf("line integrals cache: %w", err)
		}
	}
	return nil
}

// band returns view v's images cropped to rows, one per bin, as put kept
// them.
func (c *lineCache) band(v int, rows fdk.RowBand) ([][]float32, error) {
	buf := make([]byte, 4*c.cols*rows.Count)
	imgs := make([][]float32, c.bins)
	for i := range imgs {
		if _, err := c.f.ReadAt(buf, c.offset(v, i, rows.First)); err != nil {
			return nil, fmt.Errorf("line integrals cache: view %d: %w", v, err)
		}
		img := make([]float32, c.cols*rows.Count)
		for k := range img {
			img[k] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*k:]))
		}
		imgs[i] = img
	}
	return imgs, nil
}

// remove closes and removes the file; a nil cache has none.
func (c *lineCache) remove() {
	if c == nil {
		return
	}
	c.f.Close()
	os.Remove(c.f.Name())
}
