package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ctrecon/ctrecon/sinogram"
	"github.com/nats-io/nats.go/jetstream"
)

// A projection set folder is kept in the PROJECTIONS object store as one
// object per file, named "<name>/<path>" with path relative to the folder
// and slash-separated, plus an index object named "<name>" that lists the
// files with their sizes and digests. The index is written after every file
// is stored, so a folder whose upload failed part way has no index and does
// not exist for GetFolder; a worker may also fetch single files by name.
// The object store chunks files (128 KiB) and checks each file's SHA-256 on
// reading, so files of any size go through NATS's max_payload.

// Folder is the index of a projection set folder.
type Folder struct {
	Name   string       `json:"name"`
	Files  []FolderFile `json:"files"`
	Stored time.Time    `json:"stored"`
}

// FolderFile is one file of a Folder.
type FolderFile struct {
	Path   string `json:"path"`   // relative to the folder, slash-separated
	Size   uint64 `json:"size"`   // bytes
	Digest string `json:"digest"` // the object store's "SHA-256=<base64>"
}

// Size is the total size of the folder's files in bytes.
func (f *Folder) Size() uint64 {
	var n uint64
	for _, file := range f.Files {
		n += file.Size
	}
	return n
}

func fileObject(name, rel string) string { return name + "/" + rel }

// folderHashHex is how many hex digits of its SHA-256 FolderName adds.
const folderHashHex = 12

// FolderName returns the name to store the scan folder dir under
// (PutFolder) for the scan id: id, '_' and 12 hex digits of a SHA-256 over
// its scan.json's bytes and each file's path, size and modification time,
// id cut so that the name is a valid ID. Two folders of one scan ID (two
// simulations of one phantom, a scan edited and sent again) are two
// folders on the bus, so that a queued job keeps the files it was
// submitted with, while the same folder sent again is the same name and
// replaces itself. It hashes the files' metadata rather than their bytes,
// which the upload reads anyway: a scan's projections run to gigabytes.
// Errors name the file that could not be read.
func FolderName(id, dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", filepath.ToSlash(rel), info.Size(), info.ModTime().UnixNano())
		if rel == sinogram.ManifestName {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("bus: folder %s: %w", dir, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))[:folderHashHex]
	return id[:min(len(id), maxIDLen-1-folderHashHex)] + "_" + sum, nil
}

// PutFolder stores every regular file under dir as the folder name,
// replacing a folder of that name: files it no longer has are deleted after
// the new index is written. A directory entry that is neither a directory
// nor a regular file (a symbolic link, a device) is an error naming it.
//
// Errors wrap ErrInvalidID, fs errors naming the file, or jetstream errors.
func (b *Bus) PutFolder(ctx context.Context, name, dir string) (Folder, error) {
	if err := ValidID("folder", name); err != nil {
		return Folder{}, err
	}
	var rels []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("bus: folder %s: %s is not a regular file", dir, p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rels = append(rels, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return Folder{}, err
	}
	if len(rels) == 0 {
		return Folder{}, fmt.Errorf("bus: folder %s has no files", dir)
	}
	slices.Sort(rels)

	obs, err := b.projectionStore(ctx)
	if err != nil {
		return Folder{}, err
	}
	old, err := b.StatFolder(ctx, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Folder{}, err
	}

	folder := Folder{Name: name, Files: make([]FolderFile, 0, len(rels))}
	for _, rel := range rels {
		info, err := putFile(ctx, obs, fileObject(name, rel), filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return Folder{}, err
		}
		folder.Files = append(folder.Files, FolderFile{Path: rel, Size: info.Size, Digest: info.Digest})
	}
	folder.Stored = time.Now().UTC()
	index, err := json.Marshal(folder)
	if err != nil {
		return Folder{}, err
	}
	if _, err := obs.PutBytes(ctx, name, index); err != nil {
		return Folder{}, fmt.Errorf("bus: folder %s index: %w", name, err)
	}
	for _, f := range old.Files {
		if _, kept := slices.BinarySearch(rels, f.Path); kept {
			continue
		}
		err := obs.Delete(ctx, fileObject(name, f.Path))
		if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return Folder{}, fmt.Errorf("bus: folder %s: delete old file %s: %w", name, f.Path, err)
		}
	}
	return folder, nil
}

func putFile(ctx context.Context, obs jetstream.ObjectStore, object, file string) (*jetstream.ObjectInfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: object}, f)
	if err != nil {
		return nil, fmt.Errorf("bus: store %s: %w", file, err)
	}
	return info, nil
}

// StatFolder returns the index of folder name. Errors wrap ErrNotFound when
// there is no complete folder of that name, ErrInvalidID, or jetstream
// errors.
func (b *Bus) StatFolder(ctx context.Context, name string) (Folder, error) {
	if err := ValidID("folder", name); err != nil {
		return Folder{}, err
	}
	obs, err := b.projectionStore(ctx)
	if err != nil {
		return Folder{}, err
	}
	data, err := obs.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return Folder{}, fmt.Errorf("bus: folder %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Folder{}, fmt.Errorf("bus: folder %s index: %w", name, err)
	}
	var folder Folder
	if err := json.Unmarshal(data, &folder); err != nil {
		return Folder{}, fmt.Errorf("bus: folder %s index: %w", name, err)
	}
	for _, f := range folder.Files {
		if !validRelPath(f.Path) {
			return Folder{}, fmt.Errorf("bus: folder %s index: file path %q leaves the folder", name, f.Path)
		}
	}
	return folder, nil
}

// validRelPath reports whether p is a clean, slash-separated path inside a
// folder.
func validRelPath(p string) bool {
	return p != "" && path.Clean(p) == p && !strings.Contains(p, `\`) && filepath.IsLocal(filepath.FromSlash(p))
}

// GetFolder writes the files of folder name under dir, creating it and
// overwriting files of the same names, and returns the folder's index. Each
// file is written to a temporary file first and renamed once its digest
// checks, so dir never holds a partial file under a final name.
//
// Errors wrap ErrNotFound, ErrInvalidID, jetstream.ErrDigestMismatch, fs
// errors naming the file, or jetstream errors.
func (b *Bus) GetFolder(ctx context.Context, name, dir string) (Folder, error) {
	folder, err := b.StatFolder(ctx, name)
	if err != nil {
		return Folder{}, err
	}
	obs, err := b.projectionStore(ctx)
	if err != nil {
		return Folder{}, err
	}
	for _, f := range folder.Files {
		if err := getFile(ctx, obs, name, f, filepath.Join(dir, filepath.FromSlash(f.Path))); err != nil {
			return Folder{}, err
		}
	}
	return folder, nil
}

func getFile(ctx context.Context, obs jetstream.ObjectStore, name string, f FolderFile, target string) (err error) {
	r, err := obs.Get(ctx, fileObject(name, f.Path))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("bus: folder %s: file %s: %w", name, f.Path, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("bus: folder %s: file %s: %w", name, f.Path, err)
	}
	defer r.Close()
	if info, err := r.Info(); err != nil || info.Digest != f.Digest {
		return fmt.Errorf("bus: folder %s: file %s changed since its index was written: %w", name, f.Path, jetstream.ErrDigestMismatch)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".part-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, r) // the object store checks the digest at EOF
	if err != nil {
		return fmt.Errorf("bus: folder %s: file %s: %w", name, f.Path, err)
	}
	if uint64(n) != f.Size {
		return fmt.Errorf("bus: folder %s: file %s: %d bytes, index says %d", name, f.Path, n, f.Size)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}
