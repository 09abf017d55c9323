package main

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// diskFree is the space an unprivileged process may still write under path.
func diskFree(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

// recordingNeed is what n publishers of bitrate bit/s write in d, one copy
// per recording kind (MP4 files, HLS VOD segments); the standalone keeps
// every finished file, so a long recorded sweep fills a disk: 1,000
// publishers write 7.5 GB a minute.
func recordingNeed(n int, bitrate float64, kinds int, d time.Duration) uint64 {
	return uint64(float64(n) * bitrate / 8 * d.Seconds() * float64(kinds))
}

// checkDisk refuses a step whose recordings would not fit in free (with a
// 10 % margin), rather than measuring a server that fails its writes.
func checkDisk(need, free uint64) error {
	if need > free/10*9 {
		return fmt.Errorf("the recordings need about %.1f GB of disk and %.1f GB are free: shorten -warmup or -duration, or free space",
			float64(need)/1e9, float64(free)/1e9)
	}
	return nil
}
