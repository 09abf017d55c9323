//go:build linux

// Command memtouch measures what this machine charges for memory a process
// touches for the first time: it maps anonymous memory, writes one byte per
// page and reports the time and page faults per GB, with 4 KB pages and with
// transparent huge pages asked for (madvise). A server whose heap grows fast
// (a fleet of publishers connecting at once fills every stream's HLS window
// within 20 s) pays this for every byte of its resident set; docs/performance.md
// gives this machine's figures.
//
//	go run ./scripts/memtouch            # 1 GB, three rounds of each
//	go run ./scripts/memtouch -mb 256 -rounds 1
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	mb := flag.Int("mb", 1024, "memory mapped and touched per round, MB")
	rounds := flag.Int("rounds", 3, "rounds per page size")
	flag.Parse()
	if *mb < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "memtouch: -mb and -rounds must be positive")
		os.Exit(2)
	}
	n := *mb << 20
	for _, huge := range []bool{false, true} {
		for r := range *rounds {
			d, faults, sys, err := touch(n, huge)
			if err != nil {
				fmt.Fprintln(os.Stderr, "memtouch:", err)
				os.Exit(1)
			}
			gb := float64(n) / (1 << 30)
			fmt.Printf("huge pages %-5v round %d: %6.2f s per GB (system %5.2f s per GB), %8.0f faults per GB\n",
				huge, r+1, d.Seconds()/gb, sys.Seconds()/gb, float64(faults)/gb)
		}
	}
}

// touch maps n bytes, writes a byte per 4 KB page and unmaps them.
func touch(n int, huge bool) (time.Duration, int64, time.Duration, error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("mmap: %w", err)
	}
	defer func() { _ = unix.Munmap(b) }()
	if huge {
		if err := unix.Madvise(b, unix.MADV_HUGEPAGE); err != nil {
			return 0, 0, 0, fmt.Errorf("madvise: %w", err)
		}
	}
	var before, after unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &before); err != nil {
		return 0, 0, 0, fmt.Errorf("getrusage: %w", err)
	}
	start := time.Now()
	for i := 0; i < n; i += 4096 {
		b[i] = 1
	}
	d := time.Since(start)
	if err := unix.Getrusage(unix.RUSAGE_SELF, &after); err != nil {
		return 0, 0, 0, fmt.Errorf("getrusage: %w", err)
	}
	sys := time.Duration(after.Stime.Nano() - before.Stime.Nano())
	return d, after.Minflt - before.Minflt, sys, nil
}
