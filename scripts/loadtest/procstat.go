package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc: 100 on every
// Linux architecture Go supports (the kernel ABI fixes it).
const clockTicks = 100

// procSample is one reading of a process's CPU time and memory.
type procSample struct {
	At      time.Time
	CPU     time.Duration // utime + stime
	RSSKB   uint64        // VmRSS
	Threads int
	MinFlt  uint64 // minor page faults so far (first touches of memory, mostly)
}

// readProc samples /proc/PID (PID 0 = this process).
func readProc(pid int) (procSample, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	s := procSample{At: time.Now()}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, err
	}
	if s.CPU, s.Threads, s.MinFlt, err = parseProcStat(stat); err != nil {
		return s, err
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, err
	}
	if s.RSSKB, err = parseStatusKB(status, "VmRSS"); err != nil {
		return s, err
	}
	return s, nil
}

// parseProcStat returns utime+stime, the thread count and the minor page
// faults from /proc/PID/stat. The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself, so fields are counted from the last ')'.
func parseProcStat(b []byte) (cpu time.Duration, threads int, minflt uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, errors.New("proc stat: no command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): minflt is field 10, utime 14, stime 15, num_threads 20.
	if len(f) < 18 {
		return 0, 0, 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 18", len(f))
	}
	mf, err0 := strconv.ParseUint(string(f[7]), 10, 64)
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	th, err3 := strconv.Atoi(string(f[17]))
	if err := errors.Join(err0, err1, err2, err3); err != nil {
		return 0, 0, 0, fmt.Errorf("proc stat: %w", err)
	}
	return ticks(ut + st), th, mf, nil
}

func ticks(n uint64) time.Duration {
	return time.Duration(n) * (time.Second / clockTicks)
}

// parseStatusKB returns the value in kB of a "Key:   1234 kB" line of /proc/PID/status.
func parseStatusKB(b []byte, key string) (uint64, error) {
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok || string(k) != key {
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("proc status: %s: %q is not \"N kB\"", key, bytes.TrimSpace(v))
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc status: %s: %w", key, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("proc status: no %s line", key)
}

// systemCPU is the machine-wide CPU time from the first line of /proc/stat.
type systemCPU struct {
	Busy, Total time.Duration
}

func readSystemCPU() (systemCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return systemCPU{}, err
	}
	return parseSystemCPU(b)
}

// parseSystemCPU reads "cpu user nice system idle iowait irq softirq steal
// guest guest_nice"; idle and iowait count as not busy, and guest time is
// already included in user and nice.
func parseSystemCPU(b []byte) (systemCPU, error) {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return systemCPU{}, fmt.Errorf("proc stat: first line %q is not the cpu total", line)
	}
	var c systemCPU
	for i, s := range f[1:min(len(f), 9)] { // user … steal
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return systemCPU{}, fmt.Errorf("proc stat: cpu field %d: %w", i+1, err)
		}
		c.Total += ticks(n)
		if i != 3 && i != 4 { // idle, iowait
			c.Busy += ticks(n)
		}
	}
	return c, nil
}

// cpuPercent is the CPU used between two samples as a percentage of one core.
func cpuPercent(cpu time.Duration, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}
