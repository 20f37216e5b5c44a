// Package metaimage reads and writes 3D float32 volumes in the MetaImage
// format (.mha, header and data in one file), which ITK, 3D Slicer and
// plastimatch read.
//
// Only what ctrecon needs is supported: three dimensions, MET_FLOAT, little
// endian, uncompressed, identity direction cosines.
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
)

// Write stores v at path.
func Write(path string, v *fdk.Volume) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := Encode(bw, v); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// Encode writes v as a MetaImage stream.
func Encode(w io.Writer, v *fdk.Volume) error {
	g := v.Grid
	_, err := fmt.Fprintf(w, "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\nCompressedData = False\n"+
		"TransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = %s\nCenterOfRotation = 0 0 0\nAnatomicalOrientation = RAI\n"+
		"ElementSpacing = %s\nDimSize = %d %d %d\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n",
		floats(g.Origin[:]), floats(g.Spacing[:]), g.Dim[0], g.Dim[1], g.Dim[2])
	if err != nil {
		return err
	}
	buf := make([]byte, 4*4096)
	for start := 0; start < len(v.Data); start += 4096 {
		chunk := v.Data[start:min(start+4096, len(v.Data))]
		for i, x := range chunk {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
		}
		if _, err := w.Write(buf[:4*len(chunk)]); err != nil {
			return err
		}
	}
	return nil
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
// data, identity direction).
func Read(path string) (*fdk.Volume, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v, err := Decode(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return v, nil
}

// Decode reads a MetaImage stream.
func Decode(r *bufio.Reader) (*fdk.Volume, error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	g, err := h.grid()
	if err != nil {
		return nil, err
	}
	v := fdk.NewVolume(g)
	buf := make([]byte, 4*len(v.Data))
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("voxel data: want %d bytes: %w", len(buf), err)
	}
	for i := range v.Data {
		v.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return v, nil
}

type header map[string]string

// readHeader reads "Key = Value" lines up to and including ElementDataFile,
// after which the binary data starts.
func readHeader(r *bufio.Reader) (header, error) {
	h := header{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("header: %w (no ElementDataFile line)", err)
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("header: malformed line %q", strings.TrimSpace(line))
		}
		key := strings.TrimSpace(k)
		h[key] = strings.TrimSpace(val)
		if key == "ElementDataFile" {
			return h, nil
		}
	}
}

func (h header) grid() (fdk.Grid, error) {
	want := map[string]string{"NDims": "3", "ElementType": "MET_FLOAT", "ElementDataFile": "LOCAL"}
	for k, v := range want {
		if h[k] != v {
			return fdk.Grid{}, fmt.Errorf("header: %s = %q, only %q is supported", k, h[k], v)
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
	dims, err := parseFloats(h, "DimSize", 3)
	if err != nil {
		return g, err
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
	for k := range 3 {
		g.Dim[k], g.Spacing[k], g.Origin[k] = int(dims[k]), sp[k], off[k]
	}
	return g, g.Validate()
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
