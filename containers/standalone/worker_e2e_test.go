package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
)

// A channel with a transcode ladder gets its in-process worker when it is
// published: the standalone's scheduler starts shared/worker through the
// local runner and the source is re-encoded to 360p (the ladder never
// upscales, so the test pushes 640x360 and asks for 360p only). The rendition is played back as its own HTTP-FLV and HLS stream, listed in the
// ABR master and reported by /api/v1/streams.
func TestStandaloneWorkerPublishesRendition(t *testing.T) {
	needFFmpeg(t)
	in := testInstance(t, nil)
	push := in.addChannel(t, "ladder", func(c *channel.Channel) {
		c.Transcode = channel.Transcode{Enabled: true, Codec: "h264", Renditions: []string{"360p"}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ff := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "30", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k", "-f", "flv", push)
	require.NoError(t, ff.Start())
	t.Cleanup(func() { _ = ff.Process.Kill(); _ = ff.Wait() })

	// The rendition comes back into the hub as "ladder/360p".
	rend := in.URLs.PlayBase + "/ladder/360p/live.flv"
	waitFor(t, 40*time.Second, func() bool {
		return in.Gateway.Hub.Stream("ladder/360p") != nil
	}, "the worker never published ladder/360p")

	// ffprobe reads the rendition as H.264 640x360 + AAC.
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-read_intervals", "%+3",
		"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", rend).CombinedOutput()
	require.NoError(t, err, "%s", out)
	probe := string(out)
	require.Contains(t, probe, "h264,640,360", "rendition stream: %s", probe)
	require.Contains(t, probe, "aac", "rendition stream: %s", probe)

	// The ABR master lists the rendition with its resolution and codecs.
	var master string
	waitFor(t, 20*time.Second, func() bool {
		code, _, body := httpGet(t, in.URLs.PlayBase+"/ladder/index.m3u8")
		master = string(body)
		return code == 200 && strings.Contains(master, "360p/live.m3u8")
	}, "ABR master never listed 360p")
	require.Contains(t, master, "RESOLUTION=640x360")
	require.Contains(t, master, `CODECS="avc1.`)
	require.Contains(t, master, "mp4a.40.2")

	// /api/v1/streams shows the worker's ffmpeg progress for the channel.
	waitFor(t, 20*time.Second, func() bool {
		code, body := in.apiCall(t, "GET", "/api/v1/streams", "")
		if code != 200 {
			return false
		}
		var res struct {
			Streams []struct {
				Key   string                     `json:"key"`
				Extra map[string]json.RawMessage `json:"extra"`
			} `json:"streams"`
		}
		if json.Unmarshal([]byte(body), &res) != nil {
			return false
		}
		for _, s := range res.Streams {
			if s.Key == "ladder" {
				_, ok := s.Extra["transcode"]
				return ok
			}
		}
		return false
	}, "/api/v1/streams never showed transcode stats for ladder")
}
