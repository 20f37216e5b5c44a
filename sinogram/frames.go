package sinogram

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// DecodeFrame converts a raw frame of little-endian dtype values to counts.
// It fails when data does not hold exactly pixels values or when a float32
// value is not finite; name (a file, or a frame's description) labels the
// error.
func DecodeFrame(data []byte, dtype string, pixels int, name string) ([]float64, error) {
	size, err := dtypeSize(dtype)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFormat, name, err)
	}
	if len(data) != size*pixels {
		return nil, fmt.Errorf("%w: %s: %d bytes, want %d (%d %s pixels)", ErrFormat, name, len(data), size*pixels, pixels, dtype)
	}
	out := make([]float64, pixels)
	switch dtype {
	case Uint16:
		for i := range out {
			out[i] = float64(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case Uint32:
		for i := range out {
			out[i] = float64(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case Float32:
		for i := range out {
			v := float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: %s: pixel %d is %v", ErrFormat, name, i, v)
			}
			out[i] = v
		}
	}
	return out, nil
}

// EncodeFrame converts counts to a raw frame of dtype. Integer types round
// to the nearest count and saturate at their range, as a counter would;
// saturated reports how many pixels did.
func EncodeFrame(counts []float64, dtype string) (data []byte, saturated int, err error) {
	size, err := dtypeSize(dtype)
	if err != nil {
		return nil, 0, err
	}
	data = make([]byte, size*len(counts))
	top := map[string]float64{Uint16: math.MaxUint16, Uint32: math.MaxUint32}[dtype]
	for i, c := range counts {
		if math.IsNaN(c) {
			return nil, 0, fmt.Errorf("encode frame: pixel %d is NaN", i)
		}
		if dtype == Float32 {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(c)))
			continue
		}
		v := math.Round(c)
		if v < 0 {
			v = 0
		}
		if v >= top {
			v = top
			saturated++
		}
		if dtype == Uint16 {
			binary.LittleEndian.PutUint16(data[2*i:], uint16(v))
		} else {
			binary.LittleEndian.PutUint32(data[4*i:], uint32(v))
		}
	}
	return data, saturated, nil
}

// Saturation returns the count at which a counter of dtype (Uint16,
// Uint32) is full, or +Inf for a floating-point dtype.
func Saturation(dtype string) float64 {
	switch dtype {
	case Uint16:
		return math.MaxUint16
	case Uint32:
		return math.MaxUint32
	}
	return math.Inf(1)
}

// ReadFrame reads one frame of the scan: kind ProjectionFrame, FlatFrame or
// DarkFrame (see FramePath). Errors name the file and the frame.
func (s *Scan) ReadFrame(kind string, view, bin, cam, index int) ([]float64, error) {
	if err := s.checkIndices(kind, view, bin, cam, index); err != nil {
		return nil, err
	}
	path, err := s.framePath(kind, view, bin, cam, index)
	if err != nil {
		return nil, err
	}
	what := describeFrame(kind, view, bin, cam, index)
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: %s missing: %w", ErrIncomplete, what, err)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return DecodeFrame(data, s.Counts.Dtype, s.Layout.RawCols()*s.Layout.RawRows(), what+" ("+path+")")
}

// WriteFrame writes one frame of the scan (see ReadFrame), creating its
// folder. It returns how many pixels saturated the counter.
func (s *Scan) WriteFrame(kind string, view, bin, cam, index int, counts []float64) (saturated int, err error) {
	if err := s.checkIndices(kind, view, bin, cam, index); err != nil {
		return 0, err
	}
	if want := s.Layout.RawCols() * s.Layout.RawRows(); len(counts) != want {
		return 0, fmt.Errorf("write %s: %d pixels, want %d", describeFrame(kind, view, bin, cam, index), len(counts), want)
	}
	data, sat, err := EncodeFrame(counts, s.Counts.Dtype)
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", describeFrame(kind, view, bin, cam, index), err)
	}
	path, err := s.framePath(kind, view, bin, cam, index)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	return sat, os.WriteFile(path, data, 0o644)
}

func describeFrame(kind string, view, bin, cam, index int) string {
	switch kind {
	case ProjectionFrame:
		return fmt.Sprintf("projection of view %d bin %d camera %d", view, bin, cam)
	default:
		return fmt.Sprintf("%s %d of bin %d camera %d", kind, index, bin, cam)
	}
}

func (s *Scan) checkIndices(kind string, view, bin, cam, index int) error {
	cams := len(s.CameraPositions())
	switch {
	case bin < 0 || bin >= len(s.Bins):
		return fmt.Errorf("energy bin %d out of range [0, %d)", bin, len(s.Bins))
	case cam < 0 || cam >= cams:
		return fmt.Errorf("camera position %d out of range [0, %d)", cam, cams)
	}
	switch kind {
	case ProjectionFrame:
		if view < 0 || view >= s.Views {
			return fmt.Errorf("view %d out of range [0, %d)", view, s.Views)
		}
	case FlatFrame:
		if index < 0 || index >= s.Flats {
			return fmt.Errorf("flat %d out of range [0, %d)", index, s.Flats)
		}
	case DarkFrame:
		if index < 0 || index >= s.Darks {
			return fmt.Errorf("dark %d out of range [0, %d)", index, s.Darks)
		}
	default:
		return fmt.Errorf("unknown frame kind %q", kind)
	}
	return nil
}

// ReadBadPixelMask reads the bad-pixel mask: true for a bad pixel of a raw
// frame. It returns nil, nil when the manifest names none.
func (s *Scan) ReadBadPixelMask() ([]bool, error) {
	if s.BadPixelMask == "" {
		return nil, nil
	}
	path := filepath.Join(s.dir, filepath.FromSlash(s.BadPixelMask))
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: bad_pixel_mask: %w", ErrIncomplete, err)
		}
		return nil, fmt.Errorf("bad_pixel_mask: %w", err)
	}
	n := s.Layout.RawCols() * s.Layout.RawRows()
	if len(data) != n {
		return nil, fmt.Errorf("%w: bad-pixel mask %s: %d bytes, want one per pixel of a %dx%d raw frame (%d)", ErrFormat, path, len(data), s.Layout.RawCols(), s.Layout.RawRows(), n)
	}
	mask := make([]bool, n)
	for i, b := range data {
		mask[i] = b != 0
	}
	return mask, nil
}

// WriteBadPixelMask writes mask (one value per raw frame pixel) to the file
// the manifest names.
func (s *Scan) WriteBadPixelMask(mask []bool) error {
	if s.BadPixelMask == "" {
		return fmt.Errorf("write bad-pixel mask: the manifest names no bad_pixel_mask file")
	}
	if n := s.Layout.RawCols() * s.Layout.RawRows(); len(mask) != n {
		return fmt.Errorf("write bad-pixel mask: %d pixels, want %d", len(mask), n)
	}
	data := make([]byte, len(mask))
	for i, m := range mask {
		if m {
			data[i] = 1
		}
	}
	path := filepath.Join(s.dir, filepath.FromSlash(s.BadPixelMask))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
