package index

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// The saved index format, version 1, little-endian throughout:
//
//	magic        8 bytes "\x89CTRIDX\n"
//	version      uint16, FormatVersion
//	kind         string: the Kind's name ("exact", "hnsw")
//	kind version uint16: the version of the kind's body
//	metric       string: the Metric's name
//	dim          uint32
//	body         what the kind's Save writes (its doc comment says)
//	checksum     uint32, CRC-32C of every byte before it
//
// A string is a uint32 length and its bytes; arrays are written without
// their length, which the body gives before them. Loading reads arrays in
// bulk, so a saved index loads in a fraction of the time it takes to build.
const FormatVersion = 1

var magic = []byte("\x89CTRIDX\n")

// ErrFormat is wrapped by every error about a file that is not a saved
// index Load can read: wrong magic, an unknown version or kind, a value
// out of range, a truncated file, a checksum that does not match.
var ErrFormat = errors.New("not a valid saved index")

// Header is what precedes every saved index's body.
type Header struct {
	Kind        string
	KindVersion int
	Metric      Metric
	Dim         int
}

// Longest string and largest array a file may declare: beyond them Load
// refuses the file before allocating (arrays are also read in chunks, so
// a truncated file fails at its end without allocating its declared size).
const (
	maxString = 1 << 20
	maxArray  = 1 << 40
	chunk     = 1 << 20
)

// Encoder writes a saved index: the header when made, then the body with
// its methods, then the checksum with Close. Errors stick: after the first,
// every method does nothing, and Close returns it.
type Encoder struct {
	w   *bufio.Writer
	crc hash.Hash32
	buf []byte
	err error
}

// NewEncoder starts writing a saved index with header h to w.
func NewEncoder(w io.Writer, h Header) *Encoder {
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	e := &Encoder{w: bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16), crc: crc}
	e.raw(magic)
	e.Uint16(FormatVersion)
	e.String(h.Kind)
	e.Uint16(uint16(h.KindVersion))
	e.String(h.Metric.Name())
	e.Uint32(uint32(h.Dim))
	return e
}

func (e *Encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

// Uint8 writes v.
func (e *Encoder) Uint8(v uint8) { e.raw([]byte{v}) }

// Uint16 writes v.
func (e *Encoder) Uint16(v uint16) { e.raw(binary.LittleEndian.AppendUint16(e.buf[:0], v)) }

// Uint32 writes v.
func (e *Encoder) Uint32(v uint32) { e.raw(binary.LittleEndian.AppendUint32(e.buf[:0], v)) }

// Uint64 writes v.
func (e *Encoder) Uint64(v uint64) { e.raw(binary.LittleEndian.AppendUint64(e.buf[:0], v)) }

// String writes the length of s and its bytes.
func (e *Encoder) String(s string) {
	e.Uint32(uint32(len(s)))
	e.raw([]byte(s))
}

// Strings writes each of ss as String does.
func (e *Encoder) Strings(ss []string) {
	for _, s := range ss {
		e.String(s)
	}
}

// Bytes writes b.
func (e *Encoder) Bytes(b []byte) { e.raw(b) }

// Uint32s writes the values of v.
func (e *Encoder) Uint32s(v []uint32) {
	for c := range slices.Chunk(v, chunk) {
		b := e.buf[:0]
		for _, x := range c {
			b = binary.LittleEndian.AppendUint32(b, x)
		}
		e.raw(b)
		e.buf = b[:0]
	}
}

// Float32s writes the values of v.
func (e *Encoder) Float32s(v []float32) {
	for c := range slices.Chunk(v, chunk) {
		b := e.buf[:0]
		for _, x := range c {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		e.raw(b)
		e.buf = b[:0]
	}
}

// Metas writes metas with encoding/gob: a concrete type held in one must
// be registered with gob.Register by its user. A byte 0 stands for
// metas that are all nil.
func (e *Encoder) Metas(metas []any) {
	if !slices.ContainsFunc(metas, func(m any) bool { return m != nil }) {
		e.Uint8(0)
		return
	}
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(metas); err != nil {
		e.fail(fmt.Errorf("encoding the metas: %w", err))
		return
	}
	e.Uint8(1)
	e.Uint64(uint64(b.Len()))
	e.raw(b.Bytes())
}

func (e *Encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// Close writes the checksum and flushes; it returns the first error.
func (e *Encoder) Close() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err == nil {
		e.err = binary.Write(e.w, binary.LittleEndian, e.crc.Sum32())
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// Decoder reads a saved index (see Encoder). Errors stick: after the
// first, every method returns zero values, and Err and Close return it.
type Decoder struct {
	r   *bufio.Reader
	crc hash.Hash32
	off int64
	err error
}

// Load reads an index saved by any registered kind's Save. custom holds the
// metrics made by NewMetric that the index may use: a saved index names
// its metric, and Load finds a built-in one by itself. Errors wrap
// ErrFormat for a file that is not a saved index (or a damaged one).
func Load(r io.Reader, custom ...Metric) (Index, error) {
	d := &Decoder{r: bufio.NewReaderSize(r, 1<<16), crc: crc32.New(crc32.MakeTable(crc32.Castagnoli))}
	h, err := d.header(custom)
	if err != nil {
		return nil, err
	}
	k, err := KindNamed(h.Kind)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	x, err := k.Load(h, d)
	if err == nil {
		err = d.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("loading a saved %s index: %w", h.Kind, err)
	}
	return x, nil
}

func (d *Decoder) header(custom []Metric) (Header, error) {
	m := d.Bytes(len(magic))
	if d.err != nil || !bytes.Equal(m, magic) {
		return Header{}, fmt.Errorf("%w: no saved index's magic number at its start", ErrFormat)
	}
	if v := d.Uint16(); v != FormatVersion && d.err == nil {
		return Header{}, fmt.Errorf("%w: format version %d, this program reads %d", ErrFormat, v, FormatVersion)
	}
	h := Header{Kind: d.String(), KindVersion: int(d.Uint16())}
	name := d.String()
	h.Dim = int(d.Uint32())
	if d.err != nil {
		return Header{}, d.err
	}
	var err error
	if h.Metric, err = MetricNamed(name); err != nil {
		i := slices.IndexFunc(custom, func(m Metric) bool { return m.Name() == name })
		if i < 0 {
			return Header{}, fmt.Errorf("the saved index measures with metric %q: give it to Load", name)
		}
		h.Metric = custom[i]
	}
	return h, nil
}

// Fail makes err (wrapped with ErrFormat and the offset) the decoder's
// error unless it has one: loaders call it for a value out of range.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrFormat, d.off, fmt.Sprintf(format, args...))
	}
}

// Err returns the first error.
func (d *Decoder) Err() error { return d.err }

// Bytes reads n bytes.
func (d *Decoder) Bytes(n int) []byte {
	if d.err != nil || n < 0 {
		return nil
	}
	var b []byte
	for len(b) < n {
		c := min(n-len(b), chunk)
		b = slices.Grow(b, c)
		got, err := io.ReadFull(d.r, b[len(b):len(b)+c])
		d.crc.Write(b[len(b) : len(b)+got])
		d.off += int64(got)
		b = b[:len(b)+got]
		if err != nil {
			d.Fail("the file ends %d bytes early", n-len(b))
			return nil
		}
	}
	return b
}

// Uint8 reads a byte.
func (d *Decoder) Uint8() uint8 {
	if b := d.Bytes(1); b != nil {
		return b[0]
	}
	return 0
}

// Uint16 reads a uint16.
func (d *Decoder) Uint16() uint16 {
	if b := d.Bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

// Uint32 reads a uint32.
func (d *Decoder) Uint32() uint32 {
	if b := d.Bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// Uint64 reads a uint64.
func (d *Decoder) Uint64() uint64 {
	if b := d.Bytes(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// String reads a string.
func (d *Decoder) String() string {
	n := d.Uint32()
	if n > maxString {
		d.Fail("a string of %d bytes", n)
	}
	return string(d.Bytes(int(n)))
}

// Strings reads n strings.
func (d *Decoder) Strings(n int) []string {
	if !d.count(n, 4) {
		return nil
	}
	ss := make([]string, 0, min(n, chunk))
	for range n {
		s := d.String()
		if d.err != nil {
			return nil
		}
		ss = append(ss, s)
	}
	return ss
}

// count checks that n values of size bytes each may be read.
func (d *Decoder) count(n, size int) bool {
	if d.err == nil && (n < 0 || uint64(n) > maxArray/uint64(size)) {
		d.Fail("an array of %d values", n)
	}
	return d.err == nil
}

// Uint32s reads n uint32.
func (d *Decoder) Uint32s(n int) []uint32 {
	if !d.count(n, 4) {
		return nil
	}
	v := make([]uint32, 0, min(n, chunk))
	for len(v) < n {
		b := d.Bytes(4 * min(n-len(v), chunk))
		for i := 0; i < len(b); i += 4 {
			v = append(v, binary.LittleEndian.Uint32(b[i:]))
		}
		if d.err != nil {
			return nil
		}
	}
	return v
}

// Float32s reads n float32.
func (d *Decoder) Float32s(n int) []float32 {
	if !d.count(n, 4) {
		return nil
	}
	v := make([]float32, 0, min(n, chunk))
	for len(v) < n {
		b := d.Bytes(4 * min(n-len(v), chunk))
		for i := 0; i < len(b); i += 4 {
			v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		}
		if d.err != nil {
			return nil
		}
	}
	return v
}

// ReadFloat32s reads len(dst) float32 into dst.
func (d *Decoder) ReadFloat32s(dst []float32) {
	for c := range slices.Chunk(dst, chunk) {
		b := d.Bytes(4 * len(c))
		if b == nil {
			return
		}
		for i := range c {
			c[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
}

// ReadUint32s reads len(dst) uint32 into dst.
func (d *Decoder) ReadUint32s(dst []uint32) {
	for c := range slices.Chunk(dst, chunk) {
		b := d.Bytes(4 * len(c))
		if b == nil {
			return
		}
		for i := range c {
			c[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	}
}

// Metas reads n metas written by Encoder.Metas.
func (d *Decoder) Metas(n int) []any {
	switch d.Uint8() {
	case 0:
		if d.err != nil {
			return nil
		}
		return make([]any, n)
	case 1:
	default:
		d.Fail("metas marked neither absent nor gob")
		return nil
	}
	size := d.Uint64()
	if size > maxArray {
		d.Fail("metas of %d bytes", size)
	}
	b := d.Bytes(int(size))
	if d.err != nil {
		return nil
	}
	var metas []any
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&metas); err != nil {
		d.Fail("decoding the metas: %v", err)
		return nil
	}
	if len(metas) != n {
		d.Fail("%d metas for %d vectors", len(metas), n)
		return nil
	}
	return metas
}

// Close reads the checksum and checks it against what was read.
func (d *Decoder) Close() error {
	want := d.crc.Sum32()
	got := d.Uint32()
	if d.err == nil && got != want {
		d.Fail("checksum %08x, the contents give %08x: the file is damaged", got, want)
	}
	if d.err == nil {
		if _, err := d.r.ReadByte(); err != io.EOF {
			d.Fail("more bytes follow the checksum")
		}
	}
	return d.err
}
