package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// histogram counts delays in log-linear buckets: 1 ms up to 100 ms, 10 ms up
// to 1 s, 100 ms up to 10 s, and one overflow bucket. Small enough (281 counters)
// to keep one per viewer and merge at the end.
type histogram struct {
	counts [281]uint32
	n      uint64
	max    time.Duration
}

func bucketOf(d time.Duration) int {
	ms := d.Milliseconds()
	switch {
	case ms < 0:
		return 0
	case ms < 100:
		return int(ms)
	case ms < 1000:
		return 100 + int((ms-100)/10)
	case ms < 10000:
		return 190 + int((ms-1000)/100)
	}
	return 280
}

// upperBound is the largest delay a bucket holds.
func upperBound(b int) time.Duration {
	switch {
	case b < 100:
		return time.Duration(b+1) * time.Millisecond
	case b < 190:
		return time.Duration(100+(b-100+1)*10) * time.Millisecond
	case b < 280:
		return time.Duration(1000+(b-190+1)*100) * time.Millisecond
	}
	return time.Hour
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the upper bound of the bucket holding quantile q (0..1).
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			if ub := upperBound(i); ub < h.max || i == 280 {
				return min(ub, h.max)
			}
			return h.max
		}
	}
	return h.max
}

// procTimes is utime+stime of a process from /proc/PID/stat.
func procTimes(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatTimes(string(b))
}

// clockTicks is USER_HZ, 100 on Linux for every supported architecture.
const clockTicks = 100

func parseStatTimes(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command field")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields", len(f))
	}
	// After ")" come state(0) ppid(1) ... utime(11) stime(12).
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: bad utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// rssBytes is VmRSS from /proc/PID/status.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

func parseVmRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS: %q", rest)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS line")
}

// goodput is the share (percent) of the published payload a viewer received.
func goodput(received, published int64) float64 {
	if published <= 0 {
		return 0
	}
	return 100 * float64(received) / float64(published)
}
