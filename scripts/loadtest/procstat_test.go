package main

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	// Field layout of proc(5): pid (comm) state ppid … utime(14) stime(15) … num_threads(20).
	const tail = " S 1 100 100 0 -1 4194560 2710 0 0 0 1234 567 0 0 20 0 9 0 4242 1000000 500 18446744073709551615"
	tests := []struct {
		name    string
		stat    string
		cpu     time.Duration
		threads int
		minflt  uint64
		err     string
	}{
		{"plain", "4242 (standalone)" + tail, 18010 * time.Millisecond, 9, 2710, ""},
		{"command with spaces and parentheses", "4242 (a (b) c))" + tail, 18010 * time.Millisecond, 9, 2710, ""},
		{"no command", "4242 standalone S 1", 0, 0, 0, "no command name"},
		{"truncated", "4242 (x) S 1 100 100 0 -1 4194560 2710 0 0 0 1234", 0, 0, 0, "want at least 18"},
		{"bad number", "4242 (x) S 1 100 100 0 -1 4194560 2710 0 0 0 12x4 567 0 0 20 0 9 0 4242", 0, 0, 0, "invalid syntax"},
		{"bad fault count", "4242 (x) S 1 100 100 0 -1 4194560 27x0 0 0 0 1234 567 0 0 20 0 9 0 4242", 0, 0, 0, "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpu, threads, minflt, err := parseProcStat([]byte(tt.stat))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.cpu, cpu)
			require.Equal(t, tt.threads, threads)
			require.Equal(t, tt.minflt, minflt)
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tstandalone\nVmPeak:\t 2000000 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n"
	tests := []struct {
		name, status, key string
		want              uint64
		err               string
	}{
		{"VmRSS", status, "VmRSS", 51234, ""},
		{"prefix does not match", status, "VmRS", 0, "no VmRS line"},
		{"missing", "Name:\tx\n", "VmRSS", 0, "no VmRSS line"},
		{"no unit", "VmRSS:\t12\n", "VmRSS", 0, "not \"N kB\""},
		{"not a number", "VmRSS:\tlots kB\n", "VmRSS", 0, "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusKB([]byte(tt.status), tt.key)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseSystemCPU(t *testing.T) {
	tests := []struct {
		name        string
		stat        string
		busy, total time.Duration
		err         string
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice
		{"full", "cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 1 2 3 4\n", 160 * 10 * time.Millisecond, 980 * 10 * time.Millisecond, ""},
		{"old kernel, four fields", "cpu 10 0 10 80\n", 20 * 10 * time.Millisecond, 100 * 10 * time.Millisecond, ""},
		{"not the total", "cpu0 1 2 3 4\n", 0, 0, "not the cpu total"},
		{"bad field", "cpu 1 2 x 4\n", 0, 0, "cpu field 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSystemCPU([]byte(tt.stat))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, systemCPU{Busy: tt.busy, Total: tt.total}, got)
		})
	}
}

func TestCPUPercent(t *testing.T) {
	tests := []struct {
		cpu, wall time.Duration
		want      float64
	}{
		{time.Second, 10 * time.Second, 10},
		{3 * time.Second, 2 * time.Second, 150},
		{time.Second, 0, 0},
	}
	for _, tt := range tests {
		require.InDelta(t, tt.want, cpuPercent(tt.cpu, tt.wall), 1e-9)
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := readProc(0)
	require.NoError(t, err)
	require.Positive(t, s.RSSKB)
	require.Positive(t, s.Threads)
	s2, err := readProc(os.Getpid())
	require.NoError(t, err)
	require.GreaterOrEqual(t, s2.CPU, s.CPU)
	_, err = readSystemCPU()
	require.NoError(t, err)
}
