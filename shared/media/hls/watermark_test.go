package hls

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/hls/hlstest"
	"github.com/livestack/livestack/shared/media/hub"
)

// A watermarked channel's own HLS and CMAF paths serve the worker's
// "{id}/original", never the raw source: not available until it is live.
func TestManagerWatermarkedServesOriginal(t *testing.T) {
	h := hub.New(hub.Config{ReconnectWindow: -1})
	defer h.Close()
	m := NewManager(ManagerConfig{RenditionPoll: 20 * time.Millisecond, Linger: time.Minute})
	m.SetHub(h)
	handler := m.Handler(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := &channel.Channel{ID: "cam", Enabled: true}
	ch.Normalize()
	ch.Outputs.HLSSegmentSeconds = 1
	ch.Outputs.CMAF = true
	ch.Watermark.Text = &channel.TextWatermark{Text: "mine"}

	src, err := h.Publish("cam", hub.PublishOptions{ViewAs: ingest.ViewKey(ch, "cam")})
	require.NoError(t, err)
	m.StreamStarted(ctx, ch, src.Stream())
	tags := clip(t)
	publishClip(t, src, tags, 2500) // two segments of the raw source
	require.Eventually(t, func() bool {
		e := m.lookup("cam")
		return e != nil && len(e.ts.snap.Load().playlist) > 0
	}, 3*time.Second, 10*time.Millisecond, "the raw source is packaged (for internal use)")
	for _, p := range []string{"/cam/live.m3u8", "/cam/source/live.m3u8", "/cam/master.m3u8", "/cam/manifest.mpd", "/cam/original/live.m3u8"} {
		require.Equal(t, http.StatusNotFound, serveGet(handler, p).Code, "%s before the original is live", p)
	}

	orig, err := h.Publish("cam/original", hub.PublishOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return m.lookup("cam/original") != nil }, 2*time.Second, 5*time.Millisecond, "original picked up")
	publishClip(t, orig, tags, 1500) // one segment: tells it from the source
	var want string
	require.Eventually(t, func() bool {
		w := serveGet(handler, "/cam/original/live.m3u8")
		want = w.Body.String()
		return w.Code == http.StatusOK && strings.Count(want, "#EXTINF") == 1
	}, 3*time.Second, 20*time.Millisecond)
	for _, p := range []string{"/cam/live.m3u8", "/cam/source/live.m3u8"} {
		w := serveGet(handler, p)
		require.Equal(t, http.StatusOK, w.Code, p)
		require.Equal(t, want, w.Body.String(), p)
		pl, err := hlstest.ParseMedia(w.Body.Bytes())
		require.NoError(t, err)
		require.Len(t, pl.Segments, 1, p)
		seg := serveGet(handler, "/cam/"+pl.Segments[0].URI)
		require.Equal(t, http.StatusOK, seg.Code, p)
		demux(t, seg.Body.Bytes())
	}
	for _, f := range []string{"master.m3u8", "manifest.mpd"} {
		o := serveGet(handler, "/cam/original/"+f)
		require.Equal(t, http.StatusOK, o.Code, f)
		c := serveGet(handler, "/cam/"+f)
		require.Equal(t, http.StatusOK, c.Code, f)
		// The MPD carries publishTime (the wall clock of the answer): compare
		// without it.
		require.Equal(t, publishTime.ReplaceAllString(o.Body.String(), ""), publishTime.ReplaceAllString(c.Body.String(), ""), f)
	}
}

var publishTime = regexp.MustCompile(` publishTime="[^"]*"`)
