package main

import (
	"context"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
)

// A watermarked channel's public paths never serve the raw source: before
// the worker's watermarked "{id}/original" is live they answer "not live";
// after, /{id}/live.flv, /{id}/live.m3u8 and RTMP play of {id} are that
// stream. (The worker is replaced by a recorder; the test publishes the
// original itself with a signed rendition push, its timestamps 100 s ahead
// so every reader shows which stream it got.)
func TestStandaloneWatermarkedChannelPlaysOriginal(t *testing.T) {
	fx := media(t)
	rr := &recordingRunner{}
	in := testInstance(t, func(c *config) { c.WorkerRunner = rr })
	push := in.addChannel(t, "wm", func(c *channel.Channel) {
		c.Watermark.Text = &channel.TextWatermark{Text: "mine", FontSize: 16, Color: "white"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rawErr := make(chan error, 1)
	go func() { rawErr <- publishTags(ctx, push, fx, publishOpts{loops: 5}) }()
	waitFor(t, 10*time.Second, func() bool { return in.Gateway.Hub.Stream("wm") != nil }, "raw source never live")
	time.Sleep(2500 * time.Millisecond) // a segment's worth: the raw source is packaged by now

	flv, hls := in.flvURL("wm"), in.URLs.PlayBase+"/wm/live.m3u8"
	for _, u := range []string{flv, hls, in.URLs.PlayBase + "/wm/source/live.flv"} {
		code, _, body := httpGet(t, u)
		require.Equal(t, http.StatusNotFound, code, "%s before the original is live: %s", u, body)
	}
	require.Nil(t, in.Gateway.Hub.Stream("wm/original"))
	rtmpPlay := "rtmp://" + strings.TrimPrefix(in.URLs.PushBase, "rtmp://") + "/stream/wm"
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rw_timeout", "5000000", rtmpPlay).CombinedOutput()
	require.Error(t, err, "RTMP play of the raw source must fail: %s", out)

	orig := in.URLs.PushBase + "/stream/wm/original?sign=" + in.Signer.Sign("wm/original", time.Now().Add(time.Hour))
	origErr := make(chan error, 1)
	go func() { origErr <- publishTags(ctx, orig, fx, publishOpts{loops: 5, tsBase: 100_000}) }()
	waitFor(t, 10*time.Second, func() bool { return in.Gateway.Hub.Stream("wm/original") != nil }, "original never live")

	// Every reader's first packets are the original's (pts ≥ 100 s).
	firstPTS := func(u string) float64 {
		t.Helper()
		out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0",
			"-read_intervals", "%+#3", "-show_entries", "packet=pts_time", "-of", "csv=p=0", u).CombinedOutput()
		require.NoError(t, err, "%s: %s", u, out)
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		pts, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(line, ",")), 64)
		require.NoError(t, err, "%s: %q", u, out)
		return pts
	}
	v := openViewer(t, flv)
	tag, err := v.r.Next() // metadata, then headers and media
	require.NoError(t, err)
	for tag.Timestamp == 0 {
		tag, err = v.r.Next()
		require.NoError(t, err)
	}
	require.GreaterOrEqual(t, tag.Timestamp, uint32(100_000), "HTTP-FLV serves the original")
	require.GreaterOrEqual(t, firstPTS(rtmpPlay), 100.0, "RTMP play serves the original")
	waitFor(t, 15*time.Second, func() bool {
		code, _, _ := httpGet(t, hls)
		return code == http.StatusOK
	}, "HLS of the original never became available")
	require.GreaterOrEqual(t, firstPTS(hls), 100.0, "HLS serves the original")

	// The ABR master lists the original at the source's resolution.
	var master string
	waitFor(t, 15*time.Second, func() bool {
		code, _, body := httpGet(t, in.URLs.PlayBase+"/wm/index.m3u8")
		master = string(body)
		return code == http.StatusOK && strings.Contains(master, "original/live.m3u8")
	}, "ABR master never listed the original")
	require.Contains(t, master, "RESOLUTION=320x240")
	require.Contains(t, master, "BANDWIDTH=")

	cancel()
	<-rawErr
	<-origErr
}
