package dicomio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// ReadSliceHU reads one single-frame CT image as written by WriteSeries and
// returns its pixels in Hounsfield units, row-major: for checking a series
// against what was reconstructed. Pixels holding the PixelPaddingValue
// (outside the field of view) have no value and are NaN. Errors name the
// file.
//
// The DICOM library trusts the lengths a file states: it allocates what an
// element's length or the image size says before reading, and panics on
// some malformed values. So the file is first checked to be what
// WriteSeries writes (see checkSlice), and a panic left in the library is
// returned as an error.
func ReadSliceHU(path string) (hu []float64, cols, rows int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, err
	}
	if err := checkSlice(data); err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	defer func() {
		if r := recover(); r != nil {
			hu, cols, rows, err = nil, 0, 0, fmt.Errorf("%s: the DICOM parser failed: %v", path, r)
		}
	}()
	hu, cols, rows, err = decodeSlice(data)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return hu, cols, rows, nil
}

// decodeSlice parses a checked slice with the DICOM library.
func decodeSlice(data []byte) (hu []float64, cols, rows int, err error) {
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return nil, 0, 0, err
	}
	number := func(t tag.Tag) (float64, error) {
		e, err := ds.FindElementByTag(t)
		if err != nil {
			return 0, err
		}
		s := strings.Fields(strings.ReplaceAll(strings.Trim(e.Value.String(), "[]"), `\`, " "))
		if len(s) == 0 {
			return 0, fmt.Errorf("%s is empty", tag.DebugString(t))
		}
		v, err := strconv.ParseFloat(s[0], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("%s %q is not a finite number", tag.DebugString(t), s[0])
		}
		return v, nil
	}
	slope, err1 := number(tag.RescaleSlope)
	intercept, err2 := number(tag.RescaleIntercept)
	e, err3 := ds.FindElementByTag(tag.PixelData)
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return nil, 0, 0, err
		}
	}
	info, ok := e.Value.GetValue().(dicom.PixelDataInfo)
	if !ok || len(info.Frames) != 1 || info.Frames[0].Encapsulated {
		return nil, 0, 0, fmt.Errorf("want one native frame")
	}
	nd := info.Frames[0].NativeData
	if nd == nil {
		return nil, 0, 0, fmt.Errorf("want one native frame")
	}
	cols, rows = nd.Cols(), nd.Rows()
	raw, ok := nd.RawDataSlice().([]uint16)
	if !ok || cols < 1 || rows < 1 || len(raw) != cols*rows {
		return nil, 0, 0, fmt.Errorf("pixel data is not %dx%d 16-bit samples", cols, rows)
	}
	padding := math.NaN() // no stored value equals it
	if e, err := ds.FindElementByTag(tag.PixelPaddingValue); err == nil {
		v, ok := e.Value.GetValue().([]int)
		if !ok || len(v) != 1 {
			return nil, 0, 0, fmt.Errorf("PixelPaddingValue %v: want one integer", e.Value)
		}
		padding = float64(v[0])
	}
	hu = make([]float64, len(raw))
	for i, v := range raw {
		stored := float64(int16(v)) // signed (PixelRepresentation 1)
		hu[i] = stored*slope + intercept
		if stored == padding {
			hu[i] = math.NaN()
		}
	}
	return hu, cols, rows, nil
}

// checkSlice checks that data is a DICOM file as WriteSeries writes it,
// walking its elements without trusting them: the 128-byte preamble and
// "DICM"; then elements in ascending tag order, in explicit VR little
// endian (the transfer syntax must say so), each of a known VR, defined
// length and no longer than what is left of the file; no sequences; and
// pixel data of exactly one frame of Rows x Columns 16-bit samples.
func checkSlice(data []byte) error {
	if len(data) < 132 || string(data[128:132]) != "DICM" {
		return fmt.Errorf("not a DICOM file (no DICM after the 128-byte preamble)")
	}
	le := binary.LittleEndian
	vals := map[uint32][]byte{}
	prev := int64(-1)
	for off := 132; off < len(data); {
		if len(data)-off < 8 {
			return fmt.Errorf("byte %d: %d bytes left, too few for an element", off, len(data)-off)
		}
		t := uint32(le.Uint16(data[off:]))<<16 | uint32(le.Uint16(data[off+2:]))
		name := fmt.Sprintf("element (%04X,%04X) at byte %d", t>>16, t&0xffff, off)
		if int64(t) <= prev {
			return fmt.Errorf("%s: tags out of order or repeated", name)
		}
		prev = int64(t)
		vr := string(data[off+4 : off+6])
		n, head := int64(le.Uint16(data[off+6:])), 8
		switch vr {
		case "SQ":
			return fmt.Errorf("%s: a sequence, which WriteSeries does not write", name)
		case "OB", "OD", "OF", "OL", "OV", "OW", "SV", "UC", "UN", "UR", "UT", "UV":
			if len(data)-off < 12 {
				return fmt.Errorf("%s: truncated", name)
			}
			n, head = int64(le.Uint32(data[off+8:])), 12
		case "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US":
		default:
			return fmt.Errorf("%s: unknown VR %q", name, vr)
		}
		off += head
		if n > int64(len(data)-off) {
			return fmt.Errorf("%s: length %d, but %d bytes are left", name, n, len(data)-off)
		}
		vals[t] = data[off : off+int(n)]
		off += int(n)
	}
	return checkPixelModule(vals)
}

// checkPixelModule checks the transfer syntax and that the pixel data is
// one frame of Rows x Columns 16-bit single samples, from the raw values of
// the elements by tag.
func checkPixelModule(vals map[uint32][]byte) error {
	text := func(t uint32) string { return strings.TrimRight(string(vals[t]), " \x00") }
	us := func(t uint32, name string) (int, error) {
		v, ok := vals[t]
		if !ok || len(v) != 2 {
			return 0, fmt.Errorf("%s: missing or not one US value", name)
		}
		return int(binary.LittleEndian.Uint16(v)), nil
	}
	if ts := text(0x00020010); ts != explicitVRLittleEndian {
		return fmt.Errorf("transfer syntax %q, want explicit VR little endian (%s)", ts, explicitVRLittleEndian)
	}
	if f, ok := vals[0x00280008]; ok && strings.TrimSpace(text(0x00280008)) != "1" {
		return fmt.Errorf("NumberOfFrames %q, want 1", f)
	}
	rows, err1 := us(0x00280010, "Rows")
	cols, err2 := us(0x00280011, "Columns")
	bits, err3 := us(0x00280100, "BitsAllocated")
	samples, err4 := us(0x00280002, "SamplesPerPixel")
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return err
		}
	}
	px, ok := vals[0x7FE00010]
	switch {
	case bits != 16 || samples != 1:
		return fmt.Errorf("BitsAllocated %d and SamplesPerPixel %d, want 16 and 1", bits, samples)
	case rows < 1 || cols < 1:
		return fmt.Errorf("image of %dx%d pixels", cols, rows)
	case !ok || len(px) != 2*rows*cols:
		return fmt.Errorf("PixelData of %d bytes, want %d for %dx%d 16-bit pixels", len(px), 2*rows*cols, cols, rows)
	}
	return nil
}
