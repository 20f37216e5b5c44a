// Package metaimage reads and writes 3D volumes in the MetaImage format
// (.mha, header and data in one file), which ITK, 3D Slicer and plastimatch
// read: float32 volumes (attenuation) and integer label images (masks).
//
// Only what ctrecon needs is supported: three dimensions, little endian,
// uncompressed, identity direction cosines; MET_FLOAT for volumes, every
// integer element type for labels.
package metaimage

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/rawfile"
)

// Write stores v at path.
func Write(path string, v *fdk.Volume) error {
	return writeFile(path, func(w io.Writer) error { return Encode(w, v) })
}

// writeFile creates path and writes it through encode, buffered.
func writeFile(path string, encode func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := encode(bw); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// Encode writes v as a MetaImage stream. It fails when v's grid is invalid
// or its data does not hold one value per voxel.
func Encode(w io.Writer, v *fdk.Volume) error {
	if err := checkData(v.Grid, len(v.Data)); err != nil {
		return err
	}
	if err := EncodeHeader(w, v.Grid); err != nil {
		return err
	}
	return EncodeData(w, v.Data)
}

// EncodeHeader writes the header of a float32 volume on g, which
// EncodeData calls then give the voxels of, in order: a volume written a
// z-slab at a time without ever being whole in memory.
func EncodeHeader(w io.Writer, g fdk.Grid) error {
	if err := g.Validate(); err != nil {
		return err
	}
	return writeHeader(w, g, "MET_FLOAT")
}

// EncodeData writes voxels after EncodeHeader.
func EncodeData(w io.Writer, data []float32) error {
	return rawfile.WriteElements(w, data, 4, func(b []byte, x float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(x)) })
}

// checkData reports an invalid grid, or n values that are not one per
// voxel of g.
func checkData(g fdk.Grid, n int) error {
	if err := g.Validate(); err != nil {
		return err
	}
	if n != g.Voxels() {
		return fmt.Errorf("%d values for %dx%dx%d voxels", n, g.Dim[0], g.Dim[1], g.Dim[2])
	}
	return nil
}

// writeHeader writes the header of a volume on grid g of elementType.
func writeHeader(w io.Writer, g fdk.Grid, elementType string) error {
	_, err := fmt.Fprintf(w, "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\nCompressedData = False\n"+
		"TransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = %s\nCenterOfRotation = 0 0 0\nAnatomicalOrientation = RAI\n"+
		"ElementSpacing = %s\nDimSize = %d %d %d\nElementType = %s\nElementDataFile = LOCAL\n",
		floats(g.Origin[:]), floats(g.Spacing[:]), g.Dim[0], g.Dim[1], g.Dim[2], elementType)
	return err
}

func floats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(s, " ")
}

// Read loads a volume written by Write or by another MetaImage writer with
// the same restrictions (float32, 3D, little endian, uncompressed, local
// data, identity direction). The file must hold exactly the voxels its
// header's DimSize promises: that is checked before anything is allocated.
func Read(path string) (v *fdk.Volume, err error) {
	err = rawfile.Open(path, func(r *bufio.Reader, size int64) (err error) {
		v, err = decode(r, size)
		return err
	})
	return v, err
}

// Decode reads a MetaImage stream: a header, then exactly the voxels its
// DimSize promises and nothing more. Errors name the header field or the
// voxel data. A header promising more voxels than the stream holds fails
// when the data ends, having allocated no more than the stream held.
func Decode(r *bufio.Reader) (*fdk.Volume, error) { return decode(r, -1) }

// decode is Decode for a stream of size bytes, or of unknown size when size
// is negative.
func decode(r *bufio.Reader, size int64) (*fdk.Volume, error) {
	g, data, err := decodeElements(r, size, func(typ string) (elementCodec[float32], error) {
		if typ != "MET_FLOAT" {
			return elementCodec[float32]{}, fmt.Errorf("header: ElementType = %q, only \"MET_FLOAT\" is supported", typ)
		}
		return elementCodec[float32]{4, func(b []byte, _ int) (float32, error) {
			return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
		}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &fdk.Volume{Grid: g, Data: data}, nil
}

// elementCodec reads voxels of one element type: size bytes each, turned
// into a T by value, given the bytes and the voxel's index.
type elementCodec[T any] struct {
	size  int
	value func(b []byte, i int) (T, error)
}

// decodeElements reads a header, then exactly the voxels its DimSize
// promises, each read by the codec that codec returns for its ElementType,
// and nothing more. size is the stream's length in bytes, negative when
// unknown.
func decodeElements[T any](r *bufio.Reader, size int64, codec func(elementType string) (elementCodec[T], error)) (fdk.Grid, []T, error) {
	h, headerBytes, err := readHeader(r)
	if err != nil {
		return fdk.Grid{}, nil, err
	}
	c, err := codec(h["ElementType"])
	if err != nil {
		return fdk.Grid{}, nil, err
	}
	g, err := h.grid()
	if err != nil {
		return g, nil, err
	}
	n := g.Voxels()
	need := int64(c.size) * int64(n)
	if size >= 0 && size-headerBytes != need {
		return g, nil, fmt.Errorf("voxel data: %d bytes after the header, but DimSize %d %d %d needs %d", size-headerBytes, g.Dim[0], g.Dim[1], g.Dim[2], need)
	}
	data, err := rawfile.Elements(r, n, c.size, size >= 0, c.value)
	if err != nil {
		return g, nil, fmt.Errorf("voxel data: DimSize %d %d %d needs %d bytes: %w", g.Dim[0], g.Dim[1], g.Dim[2], need, err)
	}
	if _, err := r.Peek(1); err != io.EOF {
		return g, nil, fmt.Errorf("voxel data: more than the %d bytes DimSize %d %d %d needs", need, g.Dim[0], g.Dim[1], g.Dim[2])
	}
	return g, data, nil
}

type header map[string]string

// maxHeaderBytes bounds a header: ctrecon writes about 330 bytes, ITK and
// plastimatch under 1 KiB.
const maxHeaderBytes = 64 << 10

// readHeader reads "Key = Value" lines up to and including ElementDataFile,
// after which the binary data starts, and returns their length in bytes. A
// key given twice is an error: which one a reader takes is not defined.
func readHeader(r *bufio.Reader) (header, int64, error) {
	h := header{}
	var n int64
	for {
		line, err := r.ReadSlice('\n')
		n += int64(len(line))
		if n > maxHeaderBytes {
			return nil, n, fmt.Errorf("header: longer than %d bytes (no ElementDataFile line)", maxHeaderBytes)
		}
		if err == bufio.ErrBufferFull {
			return nil, n, fmt.Errorf("header: line longer than %d bytes", r.Size())
		}
		if err != nil {
			return nil, n, fmt.Errorf("header: %w (no ElementDataFile line)", err)
		}
		k, val, ok := strings.Cut(string(line), "=")
		if !ok {
			return nil, n, fmt.Errorf("header: malformed line %q", strings.TrimSpace(string(line)))
		}
		key := strings.TrimSpace(k)
		if _, dup := h[key]; dup {
			return nil, n, fmt.Errorf("header: %s given twice", key)
		}
		h[key] = strings.TrimSpace(val)
		if key == "ElementDataFile" {
			return h, n, nil
		}
	}
}

// maxDim bounds each DimSize, so that their product cannot overflow; the
// grid's own check bounds the product.
const maxDim = 1 << 20

func (h header) grid() (fdk.Grid, error) {
	want := map[string]string{"NDims": "3", "ElementDataFile": "LOCAL"}
	for k, v := range want {
		if h[k] != v {
			return fdk.Grid{}, fmt.Errorf("header: %s = %q, only %q is supported", k, h[k], v)
		}
	}
	for k, v := range map[string]string{"ElementNumberOfChannels": "1", "HeaderSize": "0"} {
		if got, ok := h[k]; ok && got != v {
			return fdk.Grid{}, fmt.Errorf("header: %s = %q, only %q is supported", k, got, v)
		}
	}
	for _, k := range []string{"BinaryDataByteOrderMSB", "ElementByteOrderMSB"} {
		if strings.EqualFold(h[k], "true") {
			return fdk.Grid{}, fmt.Errorf("header: %s: big-endian data is not supported", k)
		}
	}
	if strings.EqualFold(h["CompressedData"], "true") {
		return fdk.Grid{}, fmt.Errorf("header: compressed data is not supported")
	}
	if tm, ok := h["TransformMatrix"]; ok && tm != "1 0 0 0 1 0 0 0 1" {
		return fdk.Grid{}, fmt.Errorf("header: TransformMatrix %q: only the identity is supported", tm)
	}
	var g fdk.Grid
	dims := strings.Fields(h["DimSize"])
	if len(dims) != 3 {
		return g, fmt.Errorf("header: DimSize = %q, want 3 numbers", h["DimSize"])
	}
	for k, s := range dims {
		d, err := strconv.Atoi(s)
		if err != nil || d < 1 || d > maxDim {
			return g, fmt.Errorf("header: DimSize = %q: %q is not a whole number from 1 to %d", h["DimSize"], s, maxDim)
		}
		g.Dim[k] = d
	}
	sp, err := parseFloats(h, "ElementSpacing", 3)
	if err != nil {
		return g, err
	}
	off, err := parseFloats(h, "Offset", 3)
	if err != nil {
		if _, ok := h["Position"]; !ok {
			return g, err
		}
		if off, err = parseFloats(h, "Position", 3); err != nil {
			return g, err
		}
	}
	g.Spacing, g.Origin = [3]float64(sp), fdk.Vec3(off)
	if err := g.Validate(); err != nil {
		return g, fmt.Errorf("header: DimSize, ElementSpacing or Offset: %w", err)
	}
	return g, nil
}

func parseFloats(h header, key string, n int) ([]float64, error) {
	f := strings.Fields(h[key])
	if len(f) != n {
		return nil, fmt.Errorf("header: %s = %q, want %d numbers", key, h[key], n)
	}
	out := make([]float64, n)
	for i, s := range f {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("header: %s: %w", key, err)
		}
		out[i] = x
	}
	return out, nil
}
