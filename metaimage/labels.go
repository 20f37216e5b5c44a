package metaimage

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/ctrecon/ctrecon/fdk"
	"github.com/ctrecon/ctrecon/internal/rawfile"
)

// integerType is one of MetaImage's integer element types: its size in
// bytes, and how to read and write one value.
type integerType struct {
	size     int
	min, max int64
	get      func(b []byte) int64 // of a uint64 above MaxInt64, MaxInt64
	put      func(b []byte, x int64)
}

// integerTypes are MetaIO's integer element types, with the sizes of its
// metaTypes.h (MET_LONG and MET_ULONG are 4 bytes there on every platform).
var integerTypes = map[string]integerType{
	"MET_CHAR":      {1, math.MinInt8, math.MaxInt8, func(b []byte) int64 { return int64(int8(b[0])) }, func(b []byte, x int64) { b[0] = byte(x) }},
	"MET_UCHAR":     {1, 0, math.MaxUint8, func(b []byte) int64 { return int64(b[0]) }, func(b []byte, x int64) { b[0] = byte(x) }},
	"MET_SHORT":     {2, math.MinInt16, math.MaxInt16, func(b []byte) int64 { return int64(int16(binary.LittleEndian.Uint16(b))) }, put16},
	"MET_USHORT":    {2, 0, math.MaxUint16, func(b []byte) int64 { return int64(binary.LittleEndian.Uint16(b)) }, put16},
	"MET_INT":       {4, math.MinInt32, math.MaxInt32, get32, put32},
	"MET_UINT":      {4, 0, math.MaxUint32, getU32, put32},
	"MET_LONG":      {4, math.MinInt32, math.MaxInt32, get32, put32},
	"MET_ULONG":     {4, 0, math.MaxUint32, getU32, put32},
	"MET_LONG_LONG": {8, math.MinInt64, math.MaxInt64, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) }, put64},
	"MET_ULONG_LONG": {8, 0, math.MaxInt64, func(b []byte) int64 {
		return int64(min(binary.LittleEndian.Uint64(b), math.MaxInt64))
	}, put64},
}

func get32(b []byte) int64  { return int64(int32(binary.LittleEndian.Uint32(b))) }
func getU32(b []byte) int64 { return int64(binary.LittleEndian.Uint32(b)) }

func put16(b []byte, x int64) { binary.LittleEndian.PutUint16(b, uint16(x)) }
func put32(b []byte, x int64) { binary.LittleEndian.PutUint32(b, uint32(x)) }
func put64(b []byte, x int64) { binary.LittleEndian.PutUint64(b, uint64(x)) }

// LabelTypes lists the element types ReadLabels reads and WriteLabels
// writes.
func LabelTypes() []string {
	return slices.Sorted(maps.Keys(integerTypes))
}

// ReadLabels loads a label image (a mask): one integer per voxel of any
// MetaImage integer element type (LabelTypes), 0 for no object, with the
// same restrictions as Read otherwise. Labels must fit an int32: an error
// names the first voxel whose label does not.
func ReadLabels(path string) (g fdk.Grid, labels []int32, err error) {
	err = rawfile.Open(path, func(r *bufio.Reader, size int64) (err error) {
		g, labels, err = decodeLabels(r, size)
		return err
	})
	return g, labels, err
}

// DecodeLabels reads a label image from a stream, as ReadLabels does.
func DecodeLabels(r *bufio.Reader) (fdk.Grid, []int32, error) { return decodeLabels(r, -1) }

func decodeLabels(r *bufio.Reader, size int64) (fdk.Grid, []int32, error) {
	return decodeElements(r, size, func(name string) (elementCodec[int32], error) {
		t, ok := integerTypes[name]
		if !ok {
			return elementCodec[int32]{}, fmt.Errorf("header: ElementType = %q, a label image needs one of %s", name, strings.Join(LabelTypes(), ", "))
		}
		return elementCodec[int32]{t.size, func(b []byte, i int) (int32, error) {
			x := t.get(b)
			if x < math.MinInt32 || x > math.MaxInt32 {
				return 0, fmt.Errorf("voxel %d: label %d does not fit a 32-bit label", i, x)
			}
			return int32(x), nil
		}}, nil
	})
}

// WriteLabels stores a label image on grid g at path, as elementType (one
// of LabelTypes). It fails, writing nothing, when a label does not fit the
// type.
func WriteLabels(path string, g fdk.Grid, labels []int32, elementType string) error {
	return writeFile(path, func(w io.Writer) error { return EncodeLabels(w, g, labels, elementType) })
}

// EncodeLabels writes a label image as a MetaImage stream. It fails before
// writing anything when g is invalid, labels do not hold one value per
// voxel, or a label does not fit elementType.
func EncodeLabels(w io.Writer, g fdk.Grid, labels []int32, elementType string) error {
	t, ok := integerTypes[elementType]
	if !ok {
		return fmt.Errorf("element type %q is not one of %s", elementType, strings.Join(LabelTypes(), ", "))
	}
	if err := checkData(g, len(labels)); err != nil {
		return err
	}
	for i, x := range labels {
		if int64(x) < t.min || int64(x) > t.max {
			return fmt.Errorf("voxel %d: label %d does not fit %s", i, x, elementType)
		}
	}
	if err := writeHeader(w, g, elementType); err != nil {
		return err
	}
	return rawfile.WriteElements(w, labels, t.size, func(b []byte, x int32) { t.put(b, int64(x)) })
}
