package motion

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/channel"
)

// encodeScene encodes ffmpeg lavfi input args as a 160x120 H.264 FLV.
func encodeScene(t *testing.T, secs int, filter string) string {
	needFFmpeg(t)
	p := filepath.Join(t.TempDir(), "scene.flv")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "color=c=0x404040:s=160x120:r=25", "-f", "lavfi", "-i", "color=c=white:s=40x40:r=25",
		"-filter_complex", "[0:v][1:v]overlay=x=20:y=20:enable='"+filter+"'", "-t", strconv.Itoa(secs),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-f", "flv", p).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return p
}

// TestMotionKeepsWorking: a 150 s stream (replayed at 15x) with a box
// appearing for 2 s every 40 s yields one clip each time, the last one more
// than 100 s in (the earlier solution stopped after about 100 s).
func TestMotionKeepsWorking(t *testing.T) {
	in := encodeScene(t, 150, "between(mod(t,40),30,32)")
	dir := t.TempDir()
	bs, err := fsblob.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		clips []Clip
		c     Counters
	)
	require.NoError(t, Run(t.Context(), Config{ChannelID: "cam", BroadcastID: "b",
		Settings: channel.Motion{Percent: 2, Diff: 20, TimeoutSeconds: 2}, SpoolDir: filepath.Join(dir, "spool"), Blob: bs,
		MaxDetectorLag: time.Minute, // replayed 15x faster than live: 4 s of wall-clock lag
		Counters:       &c, OnClip: func(cl Clip) { mu.Lock(); clips = append(clips, cl); mu.Unlock() }},
		&pacedSource{pkts: readFLV(t, in), speed: 15}))
	require.Len(t, clips, 3, "one clip per appearance")
	for i, cl := range clips {
		start := uint32(30000 + 40000*i)
		require.InDelta(t, float64(start), float64(cl.MotionStart), 400, "clip %d", i)
		require.InDelta(t, float64(start+2000), float64(cl.MotionEnd), 400, "clip %d", i)
	}
	require.Zero(t, c.Restarts.Load())
	require.InDelta(t, 750, float64(c.Frames.Load()), 60, "5 frames a second for 150 s")
}

// grayChildren lists this process's motion ffmpeg children.
func grayChildren(t *testing.T) []int { return children(t, "rawvideo") }

// children lists this process's children whose command line contains substr.
func children(t *testing.T, substr string) []int {
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 2 || f[1] != me {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(cmd), substr) {
			out = append(out, pid)
		}
	}
	return out
}

// TestMotionDetectorRestarts: killing the detection ffmpeg mid-stream
// restarts it, and motion later in the stream is still caught.
func TestMotionDetectorRestarts(t *testing.T) {
	in := encodeScene(t, 12, "between(t,8,9)")
	dir := t.TempDir()
	bs, err := fsblob.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	var (
		c     Counters
		clips []Clip
		mu    sync.Mutex
	)
	killed := make(chan int, 1)
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if pids := grayChildren(t); len(pids) > 0 && c.Frames.Load() > 3 {
				_ = syscall.Kill(pids[0], syscall.SIGKILL)
				killed <- pids[0]
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		killed <- 0
	}()
	require.NoError(t, Run(t.Context(), Config{ChannelID: "cam", BroadcastID: "b",
		Settings: channel.Motion{Percent: 2, Diff: 20, TimeoutSeconds: 1}, SpoolDir: filepath.Join(dir, "spool"), Blob: bs,
		MinBackoff: 100 * time.Millisecond, Counters: &c, OnClip: func(cl Clip) { mu.Lock(); clips = append(clips, cl); mu.Unlock() }},
		&pacedSource{pkts: readFLV(t, in), speed: 2}))
	require.NotZero(t, <-killed, "the detector ffmpeg was found and killed")
	require.EqualValues(t, 1, c.Restarts.Load())
	require.Len(t, clips, 1, "motion after the restart is recorded")
	require.InDelta(t, 8000, float64(clips[0].MotionStart), 400)
	require.Empty(t, grayChildren(t), "no detector process left")
}

// TestMotionDetectorStalls: a detector that stops reading its input is
// killed after StallTimeout and replaced, and Run still ends with the stream.
func TestMotionDetectorStalls(t *testing.T) {
	in := encodeScene(t, 6, "between(t,3,4)")
	fake := filepath.Join(t.TempDir(), "ffmpeg")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 30\n"), 0o700))
	dir := t.TempDir()
	bs, err := fsblob.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	var c Counters
	start := time.Now()
	pkts := readFLV(t, in)
	// a big keyframe payload fills the pipe to the silent "ffmpeg" quickly
	for i := range pkts {
		if pkts[i].Keyframe {
			pkts[i].Data = append(append([]byte(nil), pkts[i].Data...), make([]byte, 100<<10)...)
		}
	}
	require.NoError(t, Run(t.Context(), Config{ChannelID: "cam", BroadcastID: "b", FFmpeg: fake,
		Settings: channel.Motion{Percent: 2, Diff: 20, TimeoutSeconds: 1}, SpoolDir: filepath.Join(dir, "spool"), Blob: bs,
		MinBackoff: 50 * time.Millisecond, StallTimeout: 300 * time.Millisecond, Counters: &c},
		&pacedSource{pkts: pkts, speed: 2}))
	require.GreaterOrEqual(t, c.Restarts.Load(), int64(2), "stalled detectors replaced")
	require.Less(t, time.Since(start), 8*time.Second, "Run ended with the stream")
	require.Empty(t, children(t, "sleep"), "no detector process left")
}
