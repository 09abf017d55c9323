package main

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// motionScene is a grey picture that is still for 3 s, has a white box
// moving across it from 3 s to 6 s (then gone), and is still again.
var motionScene = []string{
	"-f", "lavfi", "-i", "color=c=0x404040:s=320x240:r=25",
	"-f", "lavfi", "-i", "color=c=white:s=80x80:r=25",
	"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
	"-filter_complex", "[0:v][1:v]overlay=x='20+(t-3)*60':y=80:enable='between(t,3,6)'[v]",
	"-map", "[v]", "-map", "2:a",
}

// TestMotionE2E pushes the still-moving-still scene for 12 s to a channel
// with motion capture (timeout 2 s): exactly one clip is recorded, from the
// standalone's 3 s pre-roll before the motion to 2 s after it, as an H.264/AAC
// MP4 with a JPG, both indexed as one motion recording.
func TestMotionE2E(t *testing.T) {
	needFFmpeg(t)
	if _, err := exec.LookPath("ffprobe"); err != nil {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatalf("ffprobe is required for end-to-end tests: %v", err)
		}
		t.Skip("ffprobe not installed; run `make test` to install it")
	}
	var dataDir string
	in := testInstance(t, func(c *config) { dataDir = c.DataDir; c.ReconnectWindow = time.Second })
	push := in.addChannel(t, "motioncam", func(c *channel.Channel) {
		c.Recording.Motion = channel.Motion{Enabled: true, Percent: 1, Diff: 20, TimeoutSeconds: 2, DurationMillis: 1000}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := snapPush(ctx, push, 12, motionScene...).CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", out)

	var recs []*store.Recording
	waitFor(t, 20*time.Second, func() bool {
		recs = snapRecordings(t, in.Store, "motioncam", store.KindMotion)
		return len(recs) >= 1 && in.Motion.Counters.Clips.Load()+in.Motion.Counters.ClipsFailed.Load() >= 1
	}, "a motion clip")
	// the stream has ended (1 s reconnect window): nothing more will come
	waitFor(t, 10*time.Second, func() bool { return in.Gateway.Hub.Stream("motioncam") == nil }, "stream ended")
	require.NoError(t, in.Motion.Close(ctx))
	recs = snapRecordings(t, in.Store, "motioncam", store.KindMotion)
	require.Len(t, recs, 1, "exactly one motion clip")
	require.EqualValues(t, 1, in.Motion.Counters.Events.Load())
	require.Zero(t, in.Motion.Counters.ClipsFailed.Load())
	r := recs[0]
	require.Equal(t, store.StatusComplete, r.Status)
	require.Len(t, r.Keys, 2)
	require.True(t, strings.HasSuffix(r.Keys[0], ".mp4") && strings.HasSuffix(r.Keys[1], ".jpg"), "%v", r.Keys)
	require.True(t, strings.HasPrefix(r.Keys[0], "motion/motioncam/"+r.BroadcastID+"/"), r.Keys[0])

	bs, err := fsblob.New(filepath.Join(dataDir, "blob"))
	require.NoError(t, err)
	rc, info, err := bs.Get(ctx, r.Keys[0])
	require.NoError(t, err)
	require.Equal(t, "video/mp4", info.ContentType)
	clip, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	mp4 := filepath.Join(t.TempDir(), "clip.mp4")
	require.NoError(t, os.WriteFile(mp4, clip, 0o600))
	probe, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,width,height",
		"-of", "default=nw=1", mp4).CombinedOutput()
	require.NoError(t, err, "%s", probe)
	p := string(probe)
	require.Contains(t, p, "codec_name=h264")
	require.Contains(t, p, "codec_name=aac")
	require.Contains(t, p, "width=320")
	i := strings.Index(p, "duration=")
	require.GreaterOrEqual(t, i, 0, p)
	dur, err := strconv.ParseFloat(strings.TrimSpace(strings.SplitN(p[i+len("duration="):], "\n", 2)[0]), 64)
	require.NoError(t, err)
	// pre-roll 3 s (from the keyframe at 0 s) + motion 3 s + timeout 2 s = 8 s,
	// ±0.8 s: the detector samples every 0.2 s, keyframes come every 1 s, and
	// the motion ends when the box leaves at 6 s.
	require.InDelta(t, 8.0, dur, 0.8, "clip duration %.2f s", dur)
	require.InDelta(t, 8000, float64(r.DurationMillis), 800)

	rc, info, err = bs.Get(ctx, r.Keys[1])
	require.NoError(t, err)
	require.Equal(t, "image/jpeg", info.ContentType)
	pic, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	img, err := jpeg.Decode(bytes.NewReader(pic))
	require.NoError(t, err)
	require.Equal(t, 320, img.Bounds().Dx())
	require.Equal(t, 240, img.Bounds().Dy())

	code, _, metricsBody := httpGet(t, in.URLs.PlayBase+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(metricsBody), "livestack_motion_events_total 1")
	require.Contains(t, string(metricsBody), `livestack_motion_clips_total{result="stored"} 1`)
}
