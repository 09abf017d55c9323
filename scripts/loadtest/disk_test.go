package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheckDisk(t *testing.T) {
	tests := []struct {
		name       string
		n, kinds   int
		d          time.Duration
		free       uint64
		wantErr    bool
		wantNeedGB float64
	}{
		{"1,000 publishers for a minute fit in 10 GB", 1000, 1, time.Minute, 10e9, false, 7.65},
		{"the same in 8 GB leaves no margin", 1000, 1, time.Minute, 8e9, true, 7.65},
		{"MP4 and HLS VOD write twice", 1000, 2, time.Minute, 10e9, true, 15.3},
		{"no recording", 1000, 0, time.Hour, 1e9, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			need := recordingNeed(tt.n, 1.02e6, tt.kinds, tt.d)
			require.InDelta(t, tt.wantNeedGB, float64(need)/1e9, 0.01)
			err := checkDisk(need, tt.free)
			if tt.wantErr {
				require.ErrorContains(t, err, "GB are free")
			} else {
				require.NoError(t, err)
			}
		})
	}
}

func TestDiskFree(t *testing.T) {
	free, err := diskFree(t.TempDir())
	require.NoError(t, err)
	require.Positive(t, free)
	_, err = diskFree("/nonexistent/dir")
	require.Error(t, err)
}
