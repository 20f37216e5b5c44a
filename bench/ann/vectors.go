// Package ann measures similarity indexes the way the approximate
// nearest-neighbour literature does (ann-benchmarks): recall@k against
// exact search, queries per second on one thread, build seconds and bytes
// per vector, over a sweep of each index's parameters; and runs the peers
// hnswlib and faiss (Debian's python3-hnswlib and python3-faiss) on the same
// vectors and queries in the same run. It reads vectors from .fvecs and
// .csv files (gzip-compressed or not) and from Parquet files of feature
// records (features/records), writes the comparison as a Markdown table
// and a recall-QPS plot, and is what `ctrecon index bench` runs.
package ann

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ctrecon/ctrecon/features/histogram"
	"github.com/ctrecon/ctrecon/features/records"
)

// Set is a list of vectors of one dimension, each with an optional label.
type Set struct {
	// Name says where the vectors came from, for errors and reports.
	Name string
	Dim  int
	// Data holds the vectors one after the other: row i is
	// Data[i*Dim:(i+1)*Dim].
	Data []float32
	// Labels holds one label per row, or is nil.
	Labels []string
	// Rows holds each vector's row in its file (from 1; a CSV's line), as
	// errors name it, or is nil when that is its index plus 1.
	Rows []int
	// Kind is the feature kind and version of vectors read from feature
	// records ("radiomics-v1", "mhist-hu-v1"), "" for other files.
	Kind string
}

// FileRow returns the row of vector i in its file, from 1.
func (s *Set) FileRow(i int) int {
	if s.Rows != nil {
		return s.Rows[i]
	}
	return i + 1
}

// Len returns the number of vectors.
func (s *Set) Len() int {
	if s.Dim == 0 {
		return 0
	}
	return len(s.Data) / s.Dim
}

// Row returns vector i.
func (s *Set) Row(i int) []float32 { return s.Data[i*s.Dim : (i+1)*s.Dim : (i+1)*s.Dim] }

// ReadFile reads vectors from path: .fvecs (the ANN benchmarks' format:
// per vector a little-endian int32 dimension, then that many float32) or
// .csv (one vector per line, values separated by commas; blank lines
// are skipped, and so is a first row none of whose cells is a number, a
// header; rows are counted as the file's lines), either one optionally
// gzip-compressed (.gz; a compressed file is known by its content, named
// .gz or not), or .parquet (our feature records, features/records: each
// record's values, all of one feature kind and version; metric
// histograms, whose number of control points varies, as MetricVector
// lays them out, padded to the file's longest). Extensions are matched
// in any case (.FVECS). Every vector must have the same dimension, at
// least 1, and finite values; an error names the file, the row (from 1)
// and the column.
func ReadFile(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case st.IsDir():
		return nil, fmt.Errorf("%s is a folder, not a file of vectors", path)
	case st.Size() == 0:
		return nil, fmt.Errorf("%s is empty: no vectors", path)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	lower := strings.ToLower(path)
	name := strings.TrimSuffix(lower, ".gz")
	ext := filepath.Ext(name)
	magic, _ := br.Peek(len(gzipMagic))
	switch gzipped := string(magic) == gzipMagic; {
	case gzipped && ext == ".parquet":
		return nil, fmt.Errorf("%s is gzip-compressed: decompress it (a Parquet file is read as it is)", path)
	case gzipped:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: reading it as gzip: %w", path, err)
		}
		defer gz.Close()
		gz.Multistream(false)
		r = &gzipMembers{gz, br}
	case name != lower:
		return nil, fmt.Errorf("%s is not gzip-compressed (it does not begin as gzip does): name it without .gz", path)
	}
	s := &Set{Name: filepath.Base(path)}
	switch {
	case ext == ".fvecs":
		err = s.readFvecs(r)
	case ext == ".csv":
		err = s.readCSV(bufio.NewReader(r))
	case ext == ".parquet" && name == lower:
		err = s.readParquet(f, st.Size())
	default:
		err = fmt.Errorf("unknown vector file type %q (want .fvecs or .csv, optionally .gz, or .parquet)", filepath.Ext(path))
	}
	if err == nil && s.Len() == 0 {
		err = errors.New("no vectors")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// gzipMagic begins every gzip stream (RFC 1952).
const gzipMagic = "\x1f\x8b"

// errAfterGzip is the error of a gzip file with bytes after its streams
// that do not begin another.
var errAfterGzip = errors.New("data after the gzip stream (bytes that are not gzip follow it: is the file damaged?)")

// gzipMembers reads the gzip streams (members) of br one after the other,
// as gzip.Reader's multistream mode does, but ends in errAfterGzip, not a
// header error or io.ErrUnexpectedEOF (which says cut short), when bytes
// that are not a gzip stream follow the last.
type gzipMembers struct {
	gz *gzip.Reader // reading the current member, multistream off
	br *bufio.Reader
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	for {
		n, err := g.gz.Read(p)
		if err != io.EOF {
			return n, err
		}
		switch magic, _ := g.br.Peek(len(gzipMagic)); {
		case len(magic) == 0:
			return n, io.EOF
		case string(magic) != gzipMagic:
			return n, errAfterGzip
		}
		if err := g.gz.Reset(g.br); err != nil {
			return n, err
		}
		g.gz.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

// parquetMagic begins and ends every Parquet file.
const parquetMagic = "PAR1"

// checkParquet returns an error unless f, of size bytes, begins and ends
// with Parquet's magic bytes: a file of another format named .parquet
// then gets an error that says so, not the Parquet reader's about its
// footer.
func checkParquet(f *os.File, size int64) error {
	head, tail := make([]byte, len(parquetMagic)), make([]byte, len(parquetMagic))
	_, err := f.ReadAt(head, 0)
	if err == nil {
		_, err = f.ReadAt(tail, size-int64(len(tail)))
	}
	if err != nil || string(head) != parquetMagic || string(tail) != parquetMagic {
		return fmt.Errorf("not a Parquet file (it does not begin and end with %s)", parquetMagic)
	}
	return nil
}

// readParquet reads the values of a Parquet file of feature records
// (records.ReadParquet), refusing records of more than one feature kind
// and version: their vectors are not comparable. Metric histograms
// (histogram.KindMetric, their points' HU and density in turn) become
// MetricVector's vectors, padded to the longest. f is size bytes long.
func (s *Set) readParquet(f *os.File, size int64) error {
	if err := checkParquet(f, size); err != nil {
		return err
	}
	meta, recs, err := records.ReadParquet(f)
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		s.Kind = recs[0].KindVersion()
	}
	metric := s.Kind == histogram.KindMetric
	if metric {
		points := 0
		for _, rec := range recs {
			points = max(points, len(rec.Values)/2)
		}
		s.Dim = histogram.VectorLen(points)
	}
	for i, rec := range recs {
		row := i + 1
		if rec.KindVersion() != s.Kind {
			return fmt.Errorf("row %d is a %s record, the rows before it %s (vectors of different feature kinds are not comparable)", row, rec.KindVersion(), s.Kind)
		}
		if len(rec.Values) == 0 {
			return fmt.Errorf("row %d: a %s record holds no vector to index", row, s.Kind)
		}
		v := rec.Values
		if metric {
			if v, err = histogram.VectorOfPairs(v, (s.Dim-1)/2); err != nil {
				return fmt.Errorf("row %d: %w", row, err)
			}
		}
		if err := s.setDim(row, len(v)); err != nil {
			return err
		}
		for c, x := range v {
			if err := checkValue(row, c, x); err != nil {
				if c < len(meta.Names) {
					return fmt.Errorf("%w (%s)", err, meta.Names[c])
				}
				return err
			}
		}
		s.Data = append(s.Data, v...)
	}
	return nil
}

// maxDim bounds the dimension a file may declare.
const maxDim = 1 << 16

func (s *Set) readFvecs(r io.Reader) error {
	var hdr [4]byte
	for row := 1; ; row++ {
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return readError(row, "its dimension", err)
		}
		d := int(int32(binary.LittleEndian.Uint32(hdr[:])))
		if err := s.setDim(row, d); err != nil && row == 1 {
			return fmt.Errorf("%w: is it .fvecs (per vector a little-endian int32 dimension, then that many float32)?", err)
		} else if err != nil {
			return err
		}
		buf := make([]byte, 4*d)
		if _, err := io.ReadFull(r, buf); err != nil {
			return readError(row, "the vector", err)
		}
		for c := range d {
			v := math.Float32frombits(binary.LittleEndian.Uint32(buf[4*c:]))
			if err := checkValue(row, c, v); err != nil {
				return err
			}
			s.Data = append(s.Data, v)
		}
	}
}

// readError says that reading row failed inside what: the file ends there
// (io.ErrUnexpectedEOF, as a cut-short gzip stream ends too), or the
// reader's error, a corrupt gzip stream's.
func readError(row int, inside string, err error) error {
	switch {
	case errors.Is(err, errAfterGzip):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("row %d: the file ends inside %s: is it cut short?", row, inside)
	}
	return fmt.Errorf("row %d: %w", row, err)
}

// setDim checks that row has d values, as the rows before it had.
func (s *Set) setDim(row, d int) error {
	switch {
	case d < 1 || d > maxDim:
		return fmt.Errorf("row %d has %s (want 1 to %d)", row, Count(d, "value"), maxDim)
	case s.Dim == 0:
		s.Dim = d
	case d != s.Dim:
		return fmt.Errorf("row %d has %s, the rows before it %d (ragged rows)", row, Count(d, "value"), s.Dim)
	}
	return nil
}

func checkValue(row, col int, v float32) error {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return fmt.Errorf("row %d, column %d: %v is not a finite number", row, col+1, v)
	}
	return nil
}

// readCSV reads one vector per line, skipping blank lines, a UTF-8 byte
// order mark and a header (isHeader) on the first; each vector's row
// (Rows, and errors) is its line in the file.
func (s *Set) readCSV(r *bufio.Reader) error {
	if head, _ := r.Peek(1024); !isText(head) {
		return errors.New("not a text CSV file: its first KiB holds NUL or control bytes (binary data: is it .fvecs? then name it so)")
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // ragged rows get our error, which names the row
	cr.ReuseRecord = true
	s.Rows = []int{}
	first, row := true, 0
	for {
		rec, err := cr.Read()
		if err == io.EOF && !first && len(s.Rows) == 0 {
			return errors.New("a header row and no vectors")
		}
		if err == io.EOF {
			return nil
		}
		if errors.As(err, new(*csv.ParseError)) {
			return err // it names the line
		} else if err != nil {
			return readError(row+1, "the row", err)
		}
		row, _ = cr.FieldPos(0)
		if first {
			rec[0] = strings.TrimPrefix(rec[0], "\ufeff") // as spreadsheets write
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank
		}
		if first && len(rec) > 1 && strings.TrimSpace(rec[0]) == "" && strings.TrimSpace(rec[1]) != "" {
			return fmt.Errorf("row %d, column 1: %w", row, errIndexColumn)
		}
		header := first && isHeader(rec)
		if first = false; header {
			continue
		}
		if err := s.setDim(row, len(rec)); err != nil {
			return err
		}
		s.Rows = append(s.Rows, row)
		for c, f := range rec {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
			switch {
			case errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0):
				return fmt.Errorf("row %d, column %d: %s is beyond float32's range", row, c+1, f)
			case err != nil && len(words(f)) > 1:
				return fmt.Errorf("row %d, column %d: %q is not a number (separate the values with commas)", row, c+1, f)
			case err != nil:
				return fmt.Errorf("row %d, column %d: %q is not a number", row, c+1, f)
			}
			if err := checkValue(row, c, float32(v)); err != nil {
				return err
			}
			s.Data = append(s.Data, float32(v))
		}
	}
}

// isText reports whether head, the beginning of a file, may be text: no
// NUL byte, and no other control byte but tab, line feed, form feed and
// carriage return where it is not UTF-8 (a spreadsheet's Latin-1 header
// is text; the float32 of .fvecs are neither).
func isText(head []byte) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return false
	}
	if utf8.Valid(head[:max(len(head)-utf8.UTFMax, 0)]) {
		return true
	}
	return !bytes.ContainsFunc(head, func(r rune) bool { return r < ' ' && !strings.ContainsRune("\t\n\f\r", r) })
}

// errIndexColumn is the error of a first row whose first cell alone is
// empty: the header of the row index pandas' to_csv writes, which would
// index the row numbers as a feature.
var errIndexColumn = errors.New("an empty first cell beside named ones, as pandas writes the header of its index column: " +
	"write the file with to_csv(index=False), or drop the first column")

// isHeader reports whether none of a row's cells is a number, or numbers
// separated by spaces, tabs or semicolons (a file that is not
// comma-separated is an error, not a header).
func isHeader(rec []string) bool {
	for _, f := range rec {
		for _, word := range words(f) {
			if _, err := strconv.ParseFloat(word, 64); err == nil {
				return false
			}
		}
	}
	return true
}

// words splits a CSV cell where files that are not comma-separated
// separate their values: at spaces, tabs and semicolons.
func words(cell string) []string {
	return strings.FieldsFunc(cell, func(r rune) bool { return unicode.IsSpace(r) || r == ';' })
}

// ReadLabels reads one label per line of path (spaces around a label are
// not part of it; the last line may end in a newline or not) and gives
// them to s: there must be one per vector, and a blank line, also one
// after the last label's newline, is an error naming its line, as it
// would shift the labels after it or stand for a label missing.
func (s *Set) ReadLabels(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.TrimSpace(text) == "" {
		return fmt.Errorf("%s: no labels, want one for each of the %s of %s", path, Count(s.Len(), "vector"), s.Name)
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if lines[i] = strings.TrimSpace(l); lines[i] == "" {
			return fmt.Errorf("%s: line %d is blank, want a label on every line (one per vector of %s)", path, i+1, s.Name)
		}
	}
	if len(lines) != s.Len() {
		return fmt.Errorf("%s: %s for the %s of %s", path, Count(len(lines), "label"), Count(s.Len(), "vector"), s.Name)
	}
	s.Labels = lines
	return nil
}

// LabelsFromLastColumn takes each row's last value as its label (as in
// scikit-learn's digits.csv): LabelsFromColumn(-1).
func (s *Set) LabelsFromLastColumn() error { return s.LabelsFromColumn(-1) }

// LabelsFromColumn takes each row's value in column col (from 1, or from
// the end with -1 the last) as its label and leaves the other columns as
// the vector. Labels are classes: a value that is not an integer is an
// error naming its row and column, as is a column the rows do not have.
func (s *Set) LabelsFromColumn(col int) error {
	c := col - 1
	if col < 0 {
		c = s.Dim + col
	}
	switch {
	case s.Dim < 2:
		return fmt.Errorf("%s: %d column: no room for a label and a vector", s.Name, s.Dim)
	case col == 0 || c < 0 || c >= s.Dim:
		return fmt.Errorf("%s: no label column %d: its rows have %d columns (want 1 to %d, or -1 to -%d from the end)", s.Name, col, s.Dim, s.Dim, s.Dim)
	}
	n, d := s.Len(), s.Dim-1
	data := make([]float32, 0, n*d)
	labels := make([]string, n)
	for i := range n {
		row := s.Row(i)
		if v := row[c]; v != float32(math.Trunc(float64(v))) || math.Abs(float64(v)) > 1<<24 {
			return fmt.Errorf("%s: row %d, column %d: %v is not a label (want an integer class, the column of labels)", s.Name, s.FileRow(i), c+1, v)
		}
		data = append(append(data, row[:c]...), row[c+1:]...)
		labels[i] = strconv.Itoa(int(row[c]))
	}
	s.Data, s.Dim, s.Labels = data, d, labels
	return nil
}

// WriteFvecs writes s to path in the .fvecs format.
func (s *Set) WriteFvecs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 4+4*s.Dim)
	binary.LittleEndian.PutUint32(buf, uint32(s.Dim))
	for i := range s.Len() {
		for c, v := range s.Row(i) {
			binary.LittleEndian.PutUint32(buf[4+4*c:], math.Float32bits(v))
		}
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readIvecs reads the .ivecs file the peers script writes: per query a
// little-endian int32 count, then that many int32 row numbers (-1 for
// none found).
func readIvecs(path string) ([][]int32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]int32
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%s: truncated", path)
		}
		n := int(binary.LittleEndian.Uint32(b))
		if n < 0 || len(b) < 4+4*n {
			return nil, fmt.Errorf("%s: truncated row %d", path, len(out)+1)
		}
		row := make([]int32, n)
		for i := range row {
			row[i] = int32(binary.LittleEndian.Uint32(b[4+4*i:]))
		}
		out = append(out, row)
		b = b[4+4*n:]
	}
	return out, nil
}
