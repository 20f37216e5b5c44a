//go:build !unix

package dirlock

import "os"

// tryLock does nothing where flock(2) does not exist: the folder is not
// locked.
func tryLock(*os.File) (held bool, err error) { return false, nil }
