package recording

import (
	"os"

	"golang.org/x/sys/unix"
)

const groupFlushSupported = true

// flushFS writes back every dirty page of dir's file system (syncfs(2)).
func flushFS(dir *os.File) error { return unix.Syncfs(int(dir.Fd())) }
