package main

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// recPush publishes testsrc2 320x240 + sine for secs seconds in real time
// with ffmpeg, a keyframe every second.
func recPush(ctx context.Context, url string, secs int) *exec.Cmd {
	return exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(secs), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k", "-f", "flv", url)
}

// recProbe returns the duration ffprobe reads from a file or URL and its codecs.
func recProbe(t *testing.T, target string) (float64, []string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
		"-of", "default=nw=1", target).CombinedOutput()
	require.NoError(t, err, "ffprobe %s: %s", target, out)
	var dur float64
	var codecs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "duration":
			dur, err = strconv.ParseFloat(v, 64)
			require.NoError(t, err, "%s", out)
		case "codec_name":
			codecs = append(codecs, v)
		}
	}
	return dur, codecs
}

// recDecode decodes target end to end and fails on any decoder error.
func recDecode(t *testing.T, target string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", target, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "decoding %s", target)
}

// recWait waits until the channel's recordings are all finished and returns them by kind.
func recWait(t *testing.T, st store.Store, ch string, n int, within time.Duration) map[string]*store.Recording {
	t.Helper()
	var got map[string]*store.Recording
	require.Eventually(t, func() bool {
		page, err := st.ListRecordings(context.Background(), store.RecordingQuery{ChannelID: ch})
		if err != nil || len(page.Recordings) != n {
			return false
		}
		got = map[string]*store.Recording{}
		for _, r := range page.Recordings {
			if r.Status == store.StatusRecording {
				return false
			}
			got[r.Kind] = r
		}
		return true
	}, within, 100*time.Millisecond, "channel %s: %d finished recordings", ch, n)
	return got
}

// The Done-when recording test: 25 s published with video_time=10 and HLS VOD
// on gives one MP4 recording of 3 files adding up to 25 s and one HLS VOD
// recording whose playlist plays end to end over /vod.
func TestRecordingMP4AndHLSVOD(t *testing.T) {
	t.Parallel() // real-time publishing: the recording tests overlap their waits
	needFFmpeg(t)
	in := testInstance(t, func(c *config) { c.ReconnectWindow = time.Second })
	push := in.addChannel(t, "rec25", func(ch *channel.Channel) {
		ch.Recording = channel.Recording{MP4: true, MP4SegmentSeconds: 10, HLSVOD: true}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := recPush(ctx, push, 25).CombinedOutput()
	require.NoError(t, err, "%s", out)

	recs := recWait(t, in.Store, "rec25", 2, 30*time.Second)
	mp4, vod := recs[store.KindMP4], recs[store.KindHLS]
	require.NotNil(t, mp4)
	require.NotNil(t, vod)
	assert.Equal(t, store.StatusComplete, mp4.Status)
	assert.Equal(t, store.StatusComplete, vod.Status)
	assert.Equal(t, mp4.BroadcastID, vod.BroadcastID, "one broadcast")
	require.Len(t, mp4.Keys, 3, "25 s cut every 10 s")

	base := in.URLs.PlayBase + "/vod/"
	var total float64
	for i, key := range mp4.Keys {
		url := base + mp4.ID + "/" + key[strings.LastIndexByte(key, '/')+1:]
		d, codecs := recProbe(t, url)
		assert.ElementsMatch(t, []string{"h264", "aac"}, codecs, url)
		if i < 2 {
			assert.InDelta(t, 10.0, d, 0.1, "file %d is cut on the keyframe at 10 s", i+1)
		}
		total += d
		resp, err := http.Get(url)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))
	}
	assert.InDelta(t, 25.0, total, 1.0, "the MP4 files add up to what was published")
	assert.InDelta(t, total*1000, float64(mp4.DurationMillis), 100)
	recDecode(t, base+mp4.ID+"/000002.mp4")

	// a Range request on an MP4 file
	req, _ := http.NewRequest(http.MethodGet, base+mp4.ID+"/000001.mp4", nil)
	req.Header.Set("Range", "bytes=0-7")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	head, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, "ftyp", string(head[4:8]))

	playlist := base + vod.ID + "/index.m3u8"
	resp, err = http.Get(playlist)
	require.NoError(t, err)
	pl, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/vnd.apple.mpegurl", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(pl), "#EXT-X-PLAYLIST-TYPE:VOD\n")
	assert.True(t, strings.HasSuffix(string(pl), "#EXT-X-ENDLIST\n"), "%s", pl)
	d, codecs := recProbe(t, playlist)
	slices.Sort(codecs)
	assert.Equal(t, []string{"aac", "h264"}, slices.Compact(codecs), "HLS lists its streams per program too")
	assert.InDelta(t, 25.0, d, 1.0, "the VOD playlist plays the whole broadcast")
	recDecode(t, playlist)

	// the recorder's metrics are exported
	resp, err = http.Get(in.URLs.PlayBase + "/metrics")
	require.NoError(t, err)
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(m), `livestack_recording_uploads_total{result="ok"}`)
	assert.Contains(t, string(m), "livestack_recording_spool_files_pending 0")
}

// A publisher dropping and coming back inside the reconnect window continues
// the same recording.
func TestRecordingReconnectIsOneRecording(t *testing.T) {
	t.Parallel() // real-time publishing: the recording tests overlap their waits
	fx := media(t)
	in := testInstance(t, func(c *config) { c.ReconnectWindow = 3 * time.Second })
	push := in.addChannel(t, "recrc", func(ch *channel.Channel) {
		ch.Recording = channel.Recording{MP4: true, MP4SegmentSeconds: 4}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, publishTags(ctx, push, fx, publishOpts{}))
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, publishTags(ctx, push, fx, publishOpts{tsBase: 50_000}))

	recs := recWait(t, in.Store, "recrc", 1, 20*time.Second)
	r := recs[store.KindMP4]
	require.NotNil(t, r, "one recording for the broadcast")
	assert.Equal(t, store.StatusComplete, r.Status)
	var total float64
	for _, key := range r.Keys {
		d, _ := recProbe(t, in.URLs.PlayBase+"/vod/"+r.ID+"/"+key[strings.LastIndexByte(key, '/')+1:])
		total += d
	}
	want := 2 * float64(fx.duration) / 1000
	assert.InDelta(t, want, total, 0.5, "both sessions are in the recording")
}
