package search

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ctrecon/ctrecon/features/histogram"
	sp "github.com/ctrecon/ctrecon/features/spatial"
	"github.com/ctrecon/ctrecon/index"
)

// A snapshot is the folder DIR/snapshot: library.db, a copy of the
// metadata database; one KIND.index per vector kind (index.Index.Save);
// and snapshot.json, written last, which says what stream sequence they
// hold. The virtual images are rebuilt from the database on load.
const (
	snapshotDir  = "snapshot"
	manifestName = "snapshot.json"
)

// manifest is snapshot.json.
type manifest struct {
	Seq     uint64            `json:"seq"`
	Written time.Time         `json:"written"`
	Indexes map[string]string `json:"indexes"`         // kind to file name
	Shard   string            `json:"shard,omitempty"` // Shard.String()
}

// Snapshot writes the library to DIR/snapshot, replacing the last one
// only once the new one is complete. Adds wait for it; searches go on.
func (l *Library) Snapshot(ctx context.Context) error {
	l.addMu.Lock()
	defer l.addMu.Unlock()
	tmp := filepath.Join(l.cfg.Dir, snapshotDir+".new")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("search: snapshot: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("search: snapshot: %w", err)
	}
	if err := l.store.copyTo(ctx, filepath.Join(tmp, "library.db")); err != nil {
		return fmt.Errorf("search: snapshot: copying the database: %w", err)
	}
	l.mu.RLock()
	m := manifest{Seq: l.seq, Written: time.Now().UTC(), Indexes: map[string]string{}, Shard: l.cfg.Shard.String()}
	vectors := make(map[string]index.Index, len(l.vectors))
	for k, vk := range l.vectors {
		vectors[k] = vk.ix
	}
	l.mu.RUnlock()
	for k, ix := range vectors {
		name := k + ".index"
		if err := saveIndex(filepath.Join(tmp, name), ix); err != nil {
			return fmt.Errorf("search: snapshot of %s: %w", k, err)
		}
		m.Indexes[k] = name
	}
	if err := writeJSONFile(filepath.Join(tmp, manifestName), m); err != nil {
		return fmt.Errorf("search: snapshot: %w", err)
	}
	dst, old := filepath.Join(l.cfg.Dir, snapshotDir), filepath.Join(l.cfg.Dir, snapshotDir+".old")
	os.RemoveAll(old)
	if err := os.Rename(dst, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("search: snapshot: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("search: snapshot: %w", err)
	}
	os.RemoveAll(old)
	l.mu.Lock()
	l.snapAt = m.Written
	l.mu.Unlock()
	return nil
}

func saveIndex(path string, ix index.Index) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = ix.Save(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// load opens the working database: a fresh copy of the snapshot's, whose
// indexes it loads, when there is a snapshot; else an empty one.
func (l *Library) load(ctx context.Context) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(l.dbPath() + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("search: %w", err)
		}
	}
	dir := filepath.Join(l.cfg.Dir, snapshotDir)
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if errors.Is(err, fs.ErrNotExist) {
		l.store, err = openStore(l.dbPath())
		return err
	}
	var m manifest
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err == nil && m.Shard != l.cfg.Shard.String() {
		err = fmt.Errorf("it holds %s, not %s: give that one's folder", partName(m.Shard), partName(l.cfg.Shard.String()))
	}
	if err != nil {
		return fmt.Errorf("search: snapshot %s: %w", dir, err)
	}
	// The vector indexes load (CPU) while the database is copied (I/O):
	// at a million vectors each takes seconds.
	loaded := make(chan error, 1)
	go func() { loaded <- l.loadVectors(dir, m) }()
	err = copyFile(filepath.Join(dir, "library.db"), l.dbPath())
	if err == nil {
		l.store, err = openStore(l.dbPath())
	}
	if lerr := <-loaded; err == nil {
		err = lerr
	}
	if err == nil {
		err = l.loadImages(ctx)
	}
	if err != nil {
		if l.store != nil {
			l.store.close()
		}
		return fmt.Errorf("search: snapshot %s: %w", dir, err)
	}
	l.seq, l.snapAt = m.Seq, m.Written
	return nil
}

// loadVectors loads the snapshot's vector indexes.
func (l *Library) loadVectors(dir string, m manifest) error {
	for kind, name := range m.Indexes {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		ix, err := index.Load(bufio.NewReaderSize(f, 1<<20), histogram.DMIndexMetric)
		f.Close()
		if err == nil {
			err = tune(ix, l.cfg.Params)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		l.vectors[kind] = &vectorKind{ix: ix, names: l.namesOf(kind, ix.Dim())}
	}
	return nil
}

// loadImages rebuilds the virtual images' spatial indexes from the
// database.
func (l *Library) loadImages(ctx context.Context) error {
	for _, kind := range []string{sp.KindVolume, sp.KindSlice} {
		err := l.store.each(ctx, kind, func(item string, _ []float32, data []byte) error {
			var vi sp.VirtualImage
			if err := json.Unmarshal(data, &vi); err != nil {
				return fmt.Errorf("%s of %s: %w", kind, item, err)
			}
			return l.imageIndex(kind).Add(item, &vi)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}
