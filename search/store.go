package search

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/ctrecon/ctrecon/features/records"
	sp "github.com/ctrecon/ctrecon/features/spatial"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite", pure Go
)

// schema is the metadata store: one row of recs per record (kind and
// item), its feature values in vals under the names of names, and the
// series' and energy bins' metadata that filters read. Every column a
// filter compares is indexed.
const schema = `
CREATE TABLE IF NOT EXISTS recs (
	id INTEGER PRIMARY KEY, kind TEXT NOT NULL, item TEXT NOT NULL,
	scan_id TEXT, study_uid TEXT, series_uid TEXT NOT NULL, bin INTEGER, slice INTEGER, object INTEGER,
	class TEXT, patient TEXT, settings TEXT, seq INTEGER, vec BLOB, data TEXT,
	UNIQUE (kind, item));
CREATE INDEX IF NOT EXISTS recs_item ON recs (item);
CREATE INDEX IF NOT EXISTS recs_series ON recs (series_uid);
CREATE INDEX IF NOT EXISTS recs_study ON recs (study_uid);
CREATE INDEX IF NOT EXISTS recs_scan ON recs (scan_id, bin);
CREATE INDEX IF NOT EXISTS recs_class ON recs (kind, class);
CREATE INDEX IF NOT EXISTS recs_shape ON recs (kind, bin, slice, object);
CREATE TABLE IF NOT EXISTS names (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (kind, name));
CREATE TABLE IF NOT EXISTS vals (rec INTEGER NOT NULL, name INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (rec, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vals_value ON vals (name, value);
CREATE TABLE IF NOT EXISTS scans (id TEXT PRIMARY KEY, study_date TEXT, scan_date TEXT, scanner TEXT, description TEXT);
CREATE INDEX IF NOT EXISTS scans_study_date ON scans (study_date);
CREATE INDEX IF NOT EXISTS scans_scan_date ON scans (scan_date);
CREATE INDEX IF NOT EXISTS scans_scanner ON scans (scanner);
CREATE TABLE IF NOT EXISTS bins (scan_id TEXT NOT NULL, bin INTEGER NOT NULL, kev_low REAL, kev_high REAL, PRIMARY KEY (scan_id, bin));
CREATE INDEX IF NOT EXISTS bins_low ON bins (kev_low);
CREATE INDEX IF NOT EXISTS bins_high ON bins (kev_high);
CREATE TABLE IF NOT EXISTS jobrecs (id TEXT PRIMARY KEY, item TEXT NOT NULL) WITHOUT ROWID;
`

// store is the metadata of every record in SQLite (modernc.org/sqlite).
// The database is a working copy: Library.Snapshot copies it, with the
// indexes, to where a restart loads them from.
type store struct {
	db *sql.DB

	mu    sync.RWMutex
	names map[string]map[string]int64 // kind -> name -> names.id
}

// openStore opens (creating it if needed) the database file path.
func openStore(path string) (*store, error) {
	// WAL lets searches read while the follower writes; synchronous OFF
	// because the snapshot, not this file, is what survives a crash.
	// Pages are read through a memory map (mmap_size: SQLite's largest,
	// 2 GiB), not a pread each: a similarity query reads its hits' rows,
	// a filter thousands, from all over the table.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(OFF)&_pragma=mmap_size(2147418112)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("metadata store %s: %w", path, err)
	}
	s := &store{db: db, names: map[string]map[string]int64{}}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("metadata store %s: schema: %w", path, err)
	}
	if err := s.loadNames(); err != nil {
		db.Close()
		return nil, fmt.Errorf("metadata store %s: %w", path, err)
	}
	return s, nil
}

func (s *store) close() error { return s.db.Close() }

func (s *store) loadNames() error {
	return s.eachRow(context.Background(), "SELECT id, kind, name FROM names", nil, func(scan func(...any) error) error {
		var id int64
		var kind, name string
		err := scan(&id, &kind, &name)
		s.nameMap(kind)[name] = id
		return err
	})
}

// eachRow runs query with args and calls fn with each row's Scan, until
// fn fails or the rows end.
func (s *store) eachRow(ctx context.Context, query string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// nameMap returns kind's names, made when missing; the caller holds mu
// for writing (or is loading).
func (s *store) nameMap(kind string) map[string]int64 {
	m, ok := s.names[kind]
	if !ok {
		m = map[string]int64{}
		s.names[kind] = m
	}
	return m
}

// entry is one record as the store keeps it.
type entry struct {
	rec    *records.Record
	item   string
	vec    []float32        // what the kind's vector index holds, or nil
	vi     *sp.VirtualImage // a virtual image kind's, decoded once
	values []named          // the feature values filters compare
	seq    uint64
	// job names the job's record ("<job>/<record>", bus.HeaderRecord)
	// when a job published it: the first item stored under it wins.
	job  string
	bins []energyBin // the scan's energy bins the record tells
	copy bool        // set by put for a record it skipped as errCopy
}

// errCopy is put's error for a record that another attempt at its job
// published before under another item.
var errCopy = errors.New("another copy of a job's record, already indexed under another item")

// energyBin is an energy bin's number and bounds, keV.
type energyBin struct {
	bin       int
	low, high float64
}

// named is one feature value under its name.
type named struct {
	name  string
	value float64
}

// put stores es in one transaction, replacing what their kind and item
// held. An entry that is another copy of a job's record (errCopy) is
// marked copy and not stored. The stream sequence stored is kept with the
// snapshot (snapshot.go), not here.
func (s *store) put(ctx context.Context, es []entry) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	s.mu.Lock()
	defer s.mu.Unlock()
	added := map[string][]string{}
	for i := range es {
		err := s.putOne(tx, &es[i], added)
		if errors.Is(err, errCopy) {
			es[i].copy = true
			continue
		}
		if err != nil {
			s.forget(added)
			return fmt.Errorf("storing %s %s: %w", es[i].rec.KindVersion(), es[i].item, err)
		}
	}
	if err := tx.Commit(); err != nil {
		s.forget(added)
		return err
	}
	return nil
}

// forget drops the names a failed transaction added from the cache.
func (s *store) forget(added map[string][]string) {
	for kind, names := range added {
		for _, n := range names {
			delete(s.names[kind], n)
		}
	}
}

func (s *store) putOne(tx *sql.Tx, e *entry, added map[string][]string) error {
	r := e.rec
	kind := r.KindVersion()
	if e.job != "" {
		var item string
		err := tx.QueryRow("SELECT item FROM jobrecs WHERE id = ?", e.job).Scan(&item)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.Exec("INSERT INTO jobrecs (id, item) VALUES (?, ?)", e.job, e.item); err != nil {
				return err
			}
		case err != nil:
			return err
		case item != e.item:
			return errCopy
		}
	}
	var id int64
	err := tx.QueryRow(`INSERT INTO recs (kind, item, scan_id, study_uid, series_uid, bin, slice, object, class, patient, settings, seq, vec, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, item) DO UPDATE SET scan_id = excluded.scan_id, study_uid = excluded.study_uid,
			class = excluded.class, patient = excluded.patient, settings = excluded.settings, seq = excluded.seq,
			vec = excluded.vec, data = excluded.data
		RETURNING id`,
		kind, e.item, r.ScanID, r.StudyUID, r.SeriesUID, r.Bin, r.Slice, r.Object, r.Class, r.Patient, r.Settings,
		int64(e.seq), encodeVec(e.vec), nullString(string(r.Data))).Scan(&id)
	if err != nil {
		return err
	}
	if _, err := tx.Exec("DELETE FROM vals WHERE rec = ?", id); err != nil {
		return err
	}
	for _, b := range e.bins {
		if _, err := tx.Exec("INSERT OR REPLACE INTO bins (scan_id, bin, kev_low, kev_high) VALUES (?, ?, ?, ?)", r.ScanID, b.bin, b.low, b.high); err != nil {
			return err
		}
	}
	names := s.nameMap(kind)
	for _, v := range e.values {
		nid, ok := names[v.name]
		if !ok {
			if err := tx.QueryRow("INSERT INTO names (kind, name) VALUES (?, ?) RETURNING id", kind, v.name).Scan(&nid); err != nil {
				return err
			}
			names[v.name] = nid
			added[kind] = append(added[kind], v.name)
		}
		if _, err := tx.Exec("INSERT INTO vals (rec, name, value) VALUES (?, ?, ?)", id, nid, v.value); err != nil {
			return err
		}
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Scan is what the store knows of a scan beyond its records, for the
// filters: dates as YYYY-MM-DD, empty when unknown.
type Scan struct {
	ID                   string
	StudyDate, ScanDate  string
	Scanner, Description string
}

// putScan stores what is known of a scan, replacing what was.
func (s *store) putScan(ctx context.Context, sc Scan) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO scans (id, study_date, scan_date, scanner, description)
		VALUES (?, ?, ?, ?, ?)`, sc.ID, sc.StudyDate, sc.ScanDate, sc.Scanner, sc.Description)
	return err
}

// putBin stores an energy bin's bounds, keV.
func (s *store) putBin(ctx context.Context, scanID string, bin int, low, high float64) error {
	_, err := s.db.ExecContext(ctx, "INSERT OR REPLACE INTO bins (scan_id, bin, kev_low, kev_high) VALUES (?, ?, ?, ?)", scanID, bin, low, high)
	return err
}

// kindNames returns kind's feature names in the order they were first
// stored.
func (s *store) kindNames(kind string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.names[kind]
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b string) int { return int(m[a] - m[b]) })
	return out
}

// resolve is the filter's resolver: the IDs of name, which is NAME (in
// every kind that has it) or KIND:NAME.
func (s *store) resolve(name string) ([]int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if kind, n, ok := strings.Cut(name, ":"); ok {
		if id, ok := s.names[kind][n]; ok {
			return []int64{id}, nil
		}
	}
	kinds := slices.Sorted(maps.Keys(s.names))
	var ids []int64
	for _, k := range kinds {
		if id, ok := s.names[k][name]; ok {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		return ids, nil
	}
	// Only an unknown name pays for the list the error suggests from.
	var known []string
	for _, k := range kinds {
		for n := range s.names[k] {
			known = append(known, n, k+":"+n)
		}
	}
	return nil, unknownField(name, known)
}

// Record is the stored metadata of a record: what a hit or a filter
// answer shows. The patient's pseudonym is left out of answers.
type Record struct {
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	ScanID    string `json:"scan_id,omitempty"`
	StudyUID  string `json:"study_uid,omitempty"`
	SeriesUID string `json:"series_uid"`
	Bin       int    `json:"bin"`
	Slice     int    `json:"slice"`
	Object    int64  `json:"object"`
	Class     string `json:"class,omitempty"`
}

const recordColumns = "r.id, r.kind, r.item, r.scan_id, r.study_uid, r.series_uid, r.bin, r.slice, r.object, r.class"

// scanRecord reads a row of recordColumns with scan.
func scanRecord(scan func(...any) error) (int64, Record, error) {
	var id int64
	var r Record
	var scanID, study, class sql.NullString
	err := scan(&id, &r.Kind, &r.Key, &scanID, &study, &r.SeriesUID, &r.Bin, &r.Slice, &r.Object, &class)
	r.ScanID, r.StudyUID, r.Class = scanID.String, study.String, class.String
	return id, r, err
}

// where returns the SQL condition of kind (all kinds when empty) and c.
func where(kind string, c compiled) (string, []any) {
	if kind == "" {
		return c.where, c.args
	}
	return "r.kind = ? AND (" + c.where + ")", append([]any{kind}, c.args...)
}

// count returns how many records of kind (any, when empty) c selects.
func (s *store) count(ctx context.Context, kind string, c compiled) (int, error) {
	w, args := where(kind, c)
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM recs r WHERE "+w, args...).Scan(&n)
	return n, err
}

// list returns up to limit records of kind that c selects, after the row
// afterID, in row order, and their row IDs.
func (s *store) list(ctx context.Context, kind string, c compiled, afterID int64, limit int) ([]Record, []int64, error) {
	w, args := where(kind, c)
	var out []Record
	var ids []int64
	err := s.eachRow(ctx, "SELECT "+recordColumns+" FROM recs r WHERE r.id > ? AND "+w+" ORDER BY r.id LIMIT ?",
		append(append([]any{afterID}, args...), limit), func(scan func(...any) error) error {
			id, r, err := scanRecord(scan)
			out, ids = append(out, r), append(ids, id)
			return err
		})
	return out, ids, err
}

// items returns the set of items of kind's records that c selects.
func (s *store) items(ctx context.Context, kind string, c compiled) (map[string]bool, error) {
	w, args := where(kind, c)
	out := map[string]bool{}
	err := s.eachRow(ctx, "SELECT r.item FROM recs r WHERE "+w, args, func(scan func(...any) error) error {
		var item string
		err := scan(&item)
		out[item] = true
		return err
	})
	return out, err
}

// eachVector calls fn with the item and stored vector (what the kind's
// vector index holds) of each of kind's records that c selects, unless
// more than most come: few is then false, and fn has been called for some.
// item and vec are valid during the call only: nothing is copied for a
// record fn drops.
func (s *store) eachVector(ctx context.Context, kind string, c compiled, most int, fn func(item []byte, vec []float32)) (few bool, err error) {
	w, args := where(kind, c)
	rows, err := s.db.QueryContext(ctx, "SELECT r.item, r.vec FROM recs r WHERE "+w+" LIMIT ?", append(args, most+1)...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var item, raw sql.RawBytes
	var vec []float32
	for n := 1; rows.Next(); n++ {
		if n > most {
			return false, nil
		}
		if err := rows.Scan(&item, &raw); err != nil {
			return false, err
		}
		vec = vec[:0]
		for i := 0; i+4 <= len(raw); i += 4 {
			vec = append(vec, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
		}
		fn(item, vec)
	}
	return true, rows.Err()
}

// records returns the metadata of kind's records of items, by item.
func (s *store) records(ctx context.Context, kind string, items []string) (map[string]Record, error) {
	out := make(map[string]Record, len(items))
	for chunk := range slices.Chunk(items, 500) {
		marks := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		args := []any{kind}
		for _, it := range chunk {
			args = append(args, it)
		}
		err := s.eachRow(ctx, "SELECT "+recordColumns+" FROM recs r WHERE r.kind = ? AND r.item IN ("+marks+")", args, func(scan func(...any) error) error {
			_, r, err := scanRecord(scan)
			out[r.Key] = r
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// each calls fn with every record of kind's item, vector and data, for
// rebuilding an index.
func (s *store) each(ctx context.Context, kind string, fn func(item string, vec []float32, data []byte) error) error {
	return s.eachRow(ctx, "SELECT item, vec, data FROM recs WHERE kind = ? ORDER BY id", []any{kind}, func(scan func(...any) error) error {
		var item string
		var vec []byte
		var data sql.NullString
		if err := scan(&item, &vec, &data); err != nil {
			return err
		}
		return fn(item, decodeVec(vec), []byte(data.String))
	})
}

// onlyBin returns it with the bin of kind's only record of its series,
// slice and object, if there is exactly one.
func (s *store) onlyBin(ctx context.Context, kind string, it Item) (Item, bool) {
	var bins []int
	err := s.eachRow(ctx, "SELECT bin FROM recs WHERE kind = ? AND series_uid = ? AND slice = ? AND object = ? LIMIT 2",
		[]any{kind, it.Series, it.Slice, it.Object}, func(scan func(...any) error) error {
			var b int
			err := scan(&b)
			bins = append(bins, b)
			return err
		})
	if err != nil || len(bins) != 1 {
		return it, false
	}
	it.Bin = bins[0]
	return it, true
}

// kinds returns the kinds with records and how many each has.
func (s *store) kinds(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.eachRow(ctx, "SELECT kind, count(*) FROM recs GROUP BY kind", nil, func(scan func(...any) error) error {
		var k string
		var n int
		err := scan(&k, &n)
		out[k] = n
		return err
	})
	return out, err
}

// copyTo writes a consistent copy of the database to path (VACUUM INTO).
func (s *store) copyTo(ctx context.Context, path string) error {
	_, err := s.db.ExecContext(ctx, "VACUUM INTO ?", path)
	return err
}

func encodeVec(v []float32) []byte {
	if v == nil {
		return nil
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func decodeVec(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// data returns the data of kind's record of item; ErrNotFound when there
// is none.
func (s *store) data(ctx context.Context, kind, item string) ([]byte, error) {
	var data sql.NullString
	err := s.db.QueryRowContext(ctx, "SELECT data FROM recs WHERE kind = ? AND item = ?", kind, item).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no %s record of %s", ErrNotFound, kind, item)
	}
	return []byte(data.String), err
}
