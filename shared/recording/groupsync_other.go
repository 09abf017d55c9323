//go:build !linux

package recording

import (
	"errors"
	"os"
)

// Without syncfs(2) every caller fsyncs its own file.
const groupFlushSupported = false

func flushFS(*os.File) error { return errors.New("syncfs: not supported") }

// dropCache is a no-op without posix_fadvise.
func dropCache(*os.File, int64, int64) {}

// readRandom is a no-op without posix_fadvise.
func readRandom(*os.File) {}
