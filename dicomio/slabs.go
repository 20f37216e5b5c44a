package dicomio

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/ctrecon/ctrecon/fdk"
)

// SeriesWriter writes one bin's series a slab at a time, for a volume
// reconstructed in z-slabs (fdk.Grid.Slab) that is never whole in memory:
// the files are those WriteSeries writes for the whole volume (instance
// numbers, positions and names continuous, one series UID; the rescale is
// fixed, so it needs no pass over the whole volume). As with WriteSeries
// the series appears under its final name only once Close has it whole.
type SeriesWriter struct {
	hdr     []*dicom.Element
	c       content
	s       Series
	grid    fdk.Grid // the whole volume's
	opts    Options
	tmp     string
	written []bool // by slice
	done    int
}

// NewSeriesWriter starts bin b's series of a volume on grid, the whole
// grid the slabs are cut from; see WriteSeries for dir, st and opts
// (opts.FOV is ignored: each slab brings its own; set opts.Padded when
// they do).
func NewSeriesWriter(dir string, st Study, b Bin, grid fdk.Grid, opts Options) (*SeriesWriter, error) {
	if err := checkBin(b); err != nil {
		return nil, err
	}
	return newSeriesWriter(dir, st, binContent(b), grid, opts)
}

func newSeriesWriter(dir string, st Study, c content, grid fdk.Grid, opts Options) (*SeriesWriter, error) {
	if err := checkGrid(grid); err != nil {
		return nil, err
	}
	hdr, s, err := header(st, c, grid, opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dicomio: output folder: %w", err)
	}
	s.Dir = filepath.Join(dir, c.folder)
	if _, err := os.Lstat(s.Dir); err == nil {
		return nil, fmt.Errorf("dicomio: series folder %s: %w", s.Dir, fs.ErrExist)
	}
	tmp, err := os.MkdirTemp(dir, "."+filepath.Base(s.Dir)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("dicomio: output folder: %w", err)
	}
	s.Instances = make([]Instance, grid.Dim[2])
	return &SeriesWriter{hdr: hdr, c: c, s: s, grid: grid, opts: opts, tmp: tmp, written: make([]bool, grid.Dim[2])}, nil
}

// WriteSlab writes the slices of vol, a slab of the writer's grid (or the
// whole grid), attenuation in 1/mm; fov, if not nil, is its field of view
// (on vol's grid), outside which voxels are PixelPaddingValue.
func (w *SeriesWriter) WriteSlab(vol *fdk.Volume, fov *fdk.FOV) error {
	if err := checkVolume(vol); err != nil {
		return err
	}
	first, err := w.place(vol.Grid)
	if err != nil {
		return err
	}
	if fov != nil && fov.Grid() != vol.Grid {
		return fmt.Errorf("%w: the field of view is on another grid than the volume", ErrInput)
	}
	g := w.grid
	nx, ny := g.Dim[0], g.Dim[1]
	width := max(4, len(strconv.Itoa(g.Dim[2])))
	pix := make([]byte, 2*nx*ny)
	for k := range vol.Grid.Dim[2] {
		w.s.Clamped += w.c.encodeSlice(pix, vol.Data[k*nx*ny:(k+1)*nx*ny])
		padSlice(pix, fov, k)
		n := first + k + 1 // the instance number
		inst := Instance{SOPInstanceUID: DeriveUID("instance", w.s.SeriesInstanceUID, strconv.Itoa(n))}
		name := fmt.Sprintf("IM_%0*d.dcm", width, n)
		z := g.Origin[2] + float64(n-1)*g.Spacing[2]
		pos := toPatient(w.opts.PatientPosition, fdk.Vec3{g.Origin[0], g.Origin[1], z})
		ds := slices.Clone(w.hdr)
		ds = append(ds,
			elem(tag.MediaStorageSOPInstanceUID, "UI", []string{inst.SOPInstanceUID}),
			elem(tag.SOPInstanceUID, "UI", []string{inst.SOPInstanceUID}),
			elem(tag.InstanceNumber, "IS", []string{strconv.Itoa(n)}),
			elem(tag.ImagePositionPatient, "DS", []string{formatDS(pos[0]), formatDS(pos[1]), formatDS(pos[2])}),
			elem(tag.SliceLocation, "DS", []string{formatDS(z)}),
			pixelData(pix),
		)
		if err := writeFile(filepath.Join(w.tmp, name), ds); err != nil {
			return err
		}
		inst.Path = filepath.Join(w.s.Dir, name)
		w.s.Instances[n-1], w.written[n-1] = inst, true
		if w.done++; w.opts.Progress != nil {
			w.opts.Progress(w.done, g.Dim[2])
		}
	}
	return nil
}

// place returns the index in the writer's grid of slab's first slice,
// failing for a grid that is not a slab of it or whose slices are written.
func (w *SeriesWriter) place(slab fdk.Grid) (int, error) {
	g := w.grid
	// The slab's first slice, found by its origin: a slab's Origin is that
	// of its first slice in the whole grid (fdk.Grid.Slab).
	first := int((slab.Origin[2]-g.Origin[2])/g.Spacing[2] + 0.5)
	want, err := g.Slab(first, min(first+slab.Dim[2], g.Dim[2]))
	if err != nil || first < 0 || want.Dim != slab.Dim || want.Spacing != slab.Spacing || want.Origin != slab.Origin {
		return 0, fmt.Errorf("%w: a volume of %v is not a slab of the series' %v", ErrInput, slab, g)
	}
	if i := slices.Index(w.written[first:first+slab.Dim[2]], true); i >= 0 {
		return 0, fmt.Errorf("%w: slice %d written twice", ErrInput, first+i)
	}
	return first, nil
}

// Close renames the series into place once every slice is written, and
// returns it; it fails, naming the first missing slice, before then.
func (w *SeriesWriter) Close() (Series, error) {
	if i := slices.Index(w.written, false); i >= 0 {
		return Series{}, fmt.Errorf("%w: slice %d of %d never written", ErrInput, i, len(w.written))
	}
	// MkdirTemp made the folder private; the series is for everyone who may
	// read dir.
	if err := os.Chmod(w.tmp, 0o755); err != nil {
		return Series{}, fmt.Errorf("dicomio: %w", err)
	}
	if err := os.Rename(w.tmp, w.s.Dir); err != nil {
		return Series{}, fmt.Errorf("dicomio: series folder: %w", err)
	}
	w.tmp = ""
	return w.s, nil
}

// Abort removes what was written of a series that will not be closed. It
// is safe after Close.
func (w *SeriesWriter) Abort() {
	if w.tmp != "" {
		os.RemoveAll(w.tmp)
		w.tmp = ""
	}
}
