package records

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/ctrecon/ctrecon/features/internal/settingshash"
)

// Key-value metadata of a Parquet file of records.
const (
	// MetaSettings is a JSON object from each settings hash of the file's
	// records to the settings it is the hash of.
	MetaSettings = "ctrecon.settings"
	// MetaNames is a JSON array naming the components of the vectors,
	// when the file's records share them.
	MetaNames = "ctrecon.names"
)

// RowsPerGroup is the most records in one Parquet row group.
const RowsPerGroup = 1 << 16

// Metadata is what a Parquet file says about all its records.
type Metadata struct {
	// Settings maps each settings hash of the records to the settings'
	// JSON; the hash must be settingshash of that JSON.
	Settings map[string]json.RawMessage
	// Names, if set, names each component of every record's vector.
	Names []string
}

// HashSettings returns the settings hash of an extraction's settings (a
// struct of plain values; see settingshash.Of) and their JSON, for a
// record's Settings and Metadata.Settings.
func HashSettings(settings any) (string, json.RawMessage, error) {
	data, err := json.Marshal(settings)
	if err != nil {
		return "", nil, fmt.Errorf("%w: settings: %w", ErrRecord, err)
	}
	return settingshash.Of(json.RawMessage(data)), data, nil
}

// columns are the Parquet file's columns before the vectors', which come
// last.
var columns = []struct {
	name string
	typ  arrow.DataType
	get  func(r *Record) any
	set  func(r *Record, v any)
}{
	{"scan_id", arrow.BinaryTypes.String, func(r *Record) any { return r.ScanID }, func(r *Record, v any) { r.ScanID = v.(string) }},
	{"job_id", arrow.BinaryTypes.String, func(r *Record) any { return r.JobID }, func(r *Record, v any) { r.JobID = v.(string) }},
	{"patient", arrow.BinaryTypes.String, func(r *Record) any { return r.Patient }, func(r *Record, v any) { r.Patient = v.(string) }},
	{"study_uid", arrow.BinaryTypes.String, func(r *Record) any { return r.StudyUID }, func(r *Record, v any) { r.StudyUID = v.(string) }},
	{"series_uid", arrow.BinaryTypes.String, func(r *Record) any { return r.SeriesUID }, func(r *Record, v any) { r.SeriesUID = v.(string) }},
	{"bin", arrow.PrimitiveTypes.Int32, func(r *Record) any { return int64(r.Bin) }, func(r *Record, v any) { r.Bin = int(v.(int64)) }},
	{"slice", arrow.PrimitiveTypes.Int32, func(r *Record) any { return int64(r.Slice) }, func(r *Record, v any) { r.Slice = int(v.(int64)) }},
	{"object", arrow.PrimitiveTypes.Int64, func(r *Record) any { return r.Object }, func(r *Record, v any) { r.Object = v.(int64) }},
	{"class", arrow.BinaryTypes.String, func(r *Record) any { return r.Class }, func(r *Record, v any) { r.Class = v.(string) }},
	{"kind", arrow.BinaryTypes.String, func(r *Record) any { return r.Kind }, func(r *Record, v any) { r.Kind = v.(string) }},
	{"version", arrow.PrimitiveTypes.Int32, func(r *Record) any { return int64(r.Version) }, func(r *Record, v any) { r.Version = int(v.(int64)) }},
	{"settings_hash", arrow.BinaryTypes.String, func(r *Record) any { return r.Settings }, func(r *Record, v any) { r.Settings = v.(string) }},
	{"data", arrow.BinaryTypes.String, func(r *Record) any { return string(r.Data) }, func(r *Record, v any) {
		if s := v.(string); s != "" {
			r.Data = json.RawMessage(s)
		}
	}},
}

// valuesColumn is the name of the vectors' column.
const valuesColumn = "values"

// schema returns the file's Arrow schema: the vectors as FixedSizeList of
// dim float32 when every record has dim > 0 values, else as List.
func schema(recs []Record) *arrow.Schema {
	dim := -1
	for i := range recs {
		if dim == -1 {
			dim = len(recs[i].Values)
		} else if len(recs[i].Values) != dim {
			dim = 0
			break
		}
	}
	item := arrow.Field{Name: "item", Type: arrow.PrimitiveTypes.Float32}
	var values arrow.DataType = arrow.ListOfField(item)
	if dim > 0 {
		values = arrow.FixedSizeListOfField(int32(dim), item)
	}
	fields := make([]arrow.Field, 0, len(columns)+1)
	for _, c := range columns {
		fields = append(fields, arrow.Field{Name: c.name, Type: c.typ})
	}
	return arrow.NewSchema(append(fields, arrow.Field{Name: valuesColumn, Type: values}), nil)
}

// checkMetadata checks that every record is valid and its settings hash is
// one of meta's, and each of meta's the hash of its settings.
func checkMetadata(meta Metadata, recs []Record) error {
	for h, s := range meta.Settings {
		if got := settingshash.Of(s); got != h {
			return fmt.Errorf("%w: metadata %s: settings of hash %s hash to %s", ErrRecord, MetaSettings, h, got)
		}
	}
	for i := range recs {
		r := &recs[i]
		if err := r.Validate(); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if _, ok := meta.Settings[r.Settings]; !ok {
			return fmt.Errorf("%w: record %d (%s): settings_hash %s has no settings in the metadata", ErrRecord, i, r.Key(), r.Settings)
		}
		if meta.Names != nil && len(r.Values) != len(meta.Names) {
			return fmt.Errorf("%w: record %d (%s): %d values for %d names", ErrRecord, i, r.Key(), len(r.Values), len(meta.Names))
		}
	}
	return nil
}

// WriteParquet writes the records and their metadata to w as a Parquet
// file (see the package comment for its layout). Errors wrap ErrRecord for
// a record or metadata at fault (naming the record), or are the writer's.
func WriteParquet(w io.Writer, meta Metadata, recs []Record) error {
	if err := checkMetadata(meta, recs); err != nil {
		return err
	}
	sc := schema(recs)
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(RowsPerGroup))
	fw, err := pqarrow.NewFileWriter(sc, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return fmt.Errorf("records: parquet: %w", err)
	}
	if err := writeMetadata(fw, meta); err != nil {
		fw.Close()
		return err
	}
	for start := 0; start < len(recs); start += RowsPerGroup {
		// A batch of its own per row group: never a slice (see the package comment).
		batch := buildBatch(sc, recs[start:min(start+RowsPerGroup, len(recs))])
		err := fw.Write(batch)
		batch.Release()
		if err != nil {
			fw.Close()
			return fmt.Errorf("records: parquet: %w", err)
		}
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("records: parquet: %w", err)
	}
	return nil
}

func writeMetadata(fw *pqarrow.FileWriter, meta Metadata) error {
	settings, err := json.Marshal(meta.Settings)
	if err != nil {
		return fmt.Errorf("%w: metadata %s: %w", ErrRecord, MetaSettings, err)
	}
	if err := fw.AppendKeyValueMetadata(MetaSettings, string(settings)); err != nil {
		return err
	}
	if meta.Names == nil {
		return nil
	}
	names, err := json.Marshal(meta.Names)
	if err != nil {
		return err
	}
	return fw.AppendKeyValueMetadata(MetaNames, string(names))
}

// buildBatch builds one record batch of recs with schema sc.
func buildBatch(sc *arrow.Schema, recs []Record) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := range recs {
		r := &recs[i]
		for k, c := range columns {
			switch fb := b.Field(k).(type) {
			case *array.StringBuilder:
				fb.Append(c.get(r).(string))
			case *array.Int32Builder:
				fb.Append(int32(c.get(r).(int64)))
			case *array.Int64Builder:
				fb.Append(c.get(r).(int64))
			}
		}
		appendValues(b.Field(len(columns)), r.Values)
	}
	return b.NewRecordBatch()
}

// appendValues appends one vector to a list or fixed-size list builder.
func appendValues(b array.Builder, v Vector) {
	var items *array.Float32Builder
	switch lb := b.(type) {
	case *array.FixedSizeListBuilder:
		lb.Append(true)
		items = lb.ValueBuilder().(*array.Float32Builder)
	case *array.ListBuilder:
		lb.Append(true)
		items = lb.ValueBuilder().(*array.Float32Builder)
	}
	items.AppendValues(v, nil)
}

// ReadParquet reads a Parquet file of records: one WriteParquet wrote, or
// one with the same columns written by other software (DuckDB's COPY ...
// TO writes the vectors as variable lists). The vectors may be fixed-size
// or variable lists of float32 or float64; a null vector or value is
// refused, naming the row and column. Every record is validated. Errors
// wrap ErrRecord or are the Parquet reader's.
func ReadParquet(r parquet.ReaderAtSeeker) (Metadata, []Record, error) {
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return Metadata{}, nil, unreadable{err}
	}
	defer pf.Close()
	meta, err := readMetadata(pf)
	if err != nil {
		return Metadata{}, nil, err
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: RowsPerGroup}, memory.DefaultAllocator)
	if err != nil {
		return Metadata{}, nil, unreadable{err}
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return Metadata{}, nil, unreadable{err}
	}
	defer rr.Release()
	var recs []Record
	for rr.Next() {
		if recs, err = appendBatch(recs, rr.RecordBatch()); err != nil {
			return Metadata{}, nil, err
		}
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return Metadata{}, nil, unreadable{err}
	}
	return meta, recs, checkMetadata(meta, recs)
}

func readMetadata(pf *file.Reader) (Metadata, error) {
	kv := pf.MetaData().KeyValueMetadata()
	var meta Metadata
	s := kv.FindValue(MetaSettings)
	if s == nil {
		return meta, fmt.Errorf("%w: no %s in the file's key-value metadata", ErrRecord, MetaSettings)
	}
	if err := json.Unmarshal([]byte(*s), &meta.Settings); err != nil {
		return meta, fmt.Errorf("%w: metadata %s: %w", ErrRecord, MetaSettings, err)
	}
	if n := kv.FindValue(MetaNames); n != nil {
		if err := json.Unmarshal([]byte(*n), &meta.Names); err != nil {
			return meta, fmt.Errorf("%w: metadata %s: %w", ErrRecord, MetaNames, err)
		}
	}
	return meta, nil
}

// appendBatch appends the records of one batch to recs.
func appendBatch(recs []Record, batch arrow.RecordBatch) ([]Record, error) {
	sc := batch.Schema()
	first := len(recs)
	recs = append(recs, make([]Record, batch.NumRows())...)
	out := recs[first:]
	for _, c := range columns {
		col, err := column(batch, sc, c.name)
		if err != nil {
			return nil, err
		}
		for i := range out {
			if col.IsNull(i) {
				return nil, fmt.Errorf("%w: row %d: column %s is null", ErrRecord, first+i, c.name)
			}
			v, err := cell(col, i)
			if err != nil {
				return nil, fmt.Errorf("%w: row %d: column %s: %w", ErrRecord, first+i, c.name, err)
			}
			c.set(&out[i], v)
		}
	}
	col, err := column(batch, sc, valuesColumn)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Values, err = vector(col, i); err != nil {
			return nil, fmt.Errorf("%w: row %d: column %s: %w", ErrRecord, first+i, valuesColumn, err)
		}
	}
	return recs, nil
}

func column(batch arrow.RecordBatch, sc *arrow.Schema, name string) (arrow.Array, error) {
	idx := sc.FieldIndices(name)
	if len(idx) != 1 {
		return nil, fmt.Errorf("%w: no column %s (or more than one)", ErrRecord, name)
	}
	return batch.Column(idx[0]), nil
}

// cell returns a string as string and any integer as int64.
func cell(col arrow.Array, i int) (any, error) {
	switch a := col.(type) {
	case *array.String:
		return a.Value(i), nil
	case *array.LargeString:
		return a.Value(i), nil
	case *array.Int32:
		return int64(a.Value(i)), nil
	case *array.Int64:
		return a.Value(i), nil
	case *array.Int16:
		return int64(a.Value(i)), nil
	case *array.Int8:
		return int64(a.Value(i)), nil
	}
	return nil, fmt.Errorf("type %s, want a string or an integer", col.DataType())
}

// vector returns row i of a list column of floats.
func vector(col arrow.Array, i int) (Vector, error) {
	if col.IsNull(i) {
		return nil, fmt.Errorf("null vector")
	}
	var items arrow.Array
	var start, end int64
	switch a := col.(type) {
	case array.ListLike: // List, LargeList, FixedSizeList
		items = a.ListValues()
		start, end = a.ValueOffsets(i)
	default:
		return nil, fmt.Errorf("type %s, want a list of floats", col.DataType())
	}
	v := make(Vector, end-start)
	for k := range v {
		j := int(start) + k
		if items.IsNull(j) {
			return nil, fmt.Errorf("value %d is null", k)
		}
		switch it := items.(type) {
		case *array.Float32:
			v[k] = it.Value(j)
		case *array.Float64:
			v[k] = float32(it.Value(j))
		default:
			return nil, fmt.Errorf("values of type %s, want float32 or float64", items.DataType())
		}
	}
	return v, nil
}

// unreadable is the error of a file the Parquet reader cannot read: a
// corrupt one, or another format's that begins and ends as Parquet does.
// Its message does not repeat the reader's "parquet: ".
type unreadable struct{ err error }

func (e unreadable) Error() string {
	return "not a readable Parquet file: " + strings.TrimPrefix(e.err.Error(), "parquet: ")
}

func (e unreadable) Unwrap() error { return e.err }
