package recording

import (
	"os"

	"golang.org/x/sys/unix"
)

const groupFlushSupported = true

// flushFS writes back every dirty page of dir's file system (syncfs(2)).
func flushFS(dir *os.File) error { return unix.Syncfs(int(dir.Fd())) }

// dropCache asks the kernel to drop f's pages in [off, off+n) (n 0: to the
// end) from the page cache; only pages already written back are dropped
// (posix_fadvise(2) POSIX_FADV_DONTNEED). A recording is written once and not
// read again by this process, and a thousand streams write 125 MB/s: left in
// the page cache, it fills the machine's memory in minutes and then every
// write waits for reclaim.
func dropCache(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
}

// readRandom turns readahead off for f: finishing a journal reads its moofs,
// a few hundred bytes every megabyte, and readahead would read it all.
func readRandom(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM)
}
