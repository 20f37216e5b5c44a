// Package rawfile holds what the readers of binary image files share
// (metaimage, nifti): opening a file with its size known, so that a header
// can be checked against it before anything is allocated, and reading a
// run of fixed-size elements chunk by chunk, so that a header promising
// more than a stream holds costs no more memory than the stream.
package rawfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// Open opens path and reads it with decode, given a buffered reader and
// the file's size in bytes. decode's error is wrapped with the path.
func Open(path string, decode func(r *bufio.Reader, size int64) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := decode(bufio.NewReaderSize(f, 1<<20), st.Size()); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// Chunk is how many elements Elements reads at a time.
const Chunk = 4096

// Elements reads n elements of size bytes each from r, turning each into
// a T with value (given its bytes and index). Unless the stream is known
// to hold them (sized), the slice grows as data arrives instead of being
// allocated for n up front. A short stream is an error saying where it
// ended.
func Elements[T any](r io.Reader, n, size int, sized bool, value func(b []byte, i int) (T, error)) ([]T, error) {
	capacity := n
	if !sized {
		capacity = min(n, Chunk)
	}
	data := make([]T, 0, capacity)
	buf := make([]byte, size*min(n, Chunk))
	for len(data) < n {
		m := min(n-len(data), Chunk)
		got, err := io.ReadFull(r, buf[:size*m])
		if err != nil {
			return nil, fmt.Errorf("the stream ends after %d: %w", size*len(data)+got, err)
		}
		for i := range m {
			x, err := value(buf[size*i:size*(i+1)], len(data))
			if err != nil {
				return nil, err
			}
			data = append(data, x)
		}
	}
	return data, nil
}

// WriteElements writes data as size-byte elements that put encodes, chunk
// by chunk.
func WriteElements[T any](w io.Writer, data []T, size int, put func(b []byte, x T)) error {
	buf := make([]byte, size*Chunk)
	for start := 0; start < len(data); start += Chunk {
		part := data[start:min(start+Chunk, len(data))]
		for i, x := range part {
			put(buf[size*i:], x)
		}
		if _, err := w.Write(buf[:size*len(part)]); err != nil {
			return err
		}
	}
	return nil
}
