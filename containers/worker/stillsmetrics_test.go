package main

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/motion"
	"github.com/livestack/livestack/shared/media/snapshot"
	"github.com/livestack/livestack/shared/worker"
)

// TestStillsMetrics: the task's /metrics carries the snapshot and motion
// counters under the standalone's names.
func TestStillsMetrics(t *testing.T) {
	m := stillsMetrics{snap: &snapshot.Counters{}, mot: &motion.Counters{}}
	m.snap.Taken.Add(3)
	m.snap.StoreFailed.Add(1)
	m.mot.Clips.Add(2)
	addr, stop, err := serveMetrics("127.0.0.1:0", worker.NewRegistry(), m)
	require.NoError(t, err)
	defer stop()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range []string{
		"livestack_snapshots_taken_total 3",
		`livestack_snapshots_failed_total{stage="store"} 1`,
		`livestack_snapshots_failed_total{stage="decode"} 0`,
		`livestack_motion_clips_total{result="stored"} 2`,
		"livestack_motion_events_total 0",
	} {
		require.Contains(t, string(b), line+"\n")
	}
}
