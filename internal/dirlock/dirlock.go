// Package dirlock gives a folder to one process at a time: an exclusive
// advisory lock (flock(2)) on a lock file in the folder, holding the
// holder's process ID. The kernel releases the lock when the process ends,
// however it ends, so a killed process leaves no stale lock behind.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Name is the lock file in a locked folder.
const Name = ".ctrecon.lock"

// ErrLocked is wrapped by the error of Acquire when another process (or
// another Acquire in this one) holds the folder.
var ErrLocked = errors.New("in use by another process")

// Lock is a folder held by this process.
type Lock struct{ f *os.File }

// Acquire makes dir if needed and locks it, or fails at once: an error
// wrapping ErrLocked that names dir and the process ID of the holder.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, Name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	held, err := tryLock(f)
	if err != nil || held {
		holder := "another process"
		if data, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); perr == nil {
				holder = fmt.Sprintf("process %d", pid)
			}
		}
		f.Close()
		if held {
			return nil, fmt.Errorf("%s: %w: %s holds it (lock file %s)", dir, ErrLocked, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Lock{f}, nil
}

// Release unlocks the folder. The lock file stays: removing it would let a
// process that opened it meanwhile lock a file no longer in the folder.
func (l *Lock) Release() error { return l.f.Close() }
