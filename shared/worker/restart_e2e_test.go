package worker

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
)

// hostileText would inject filters, options or expansions if it reached the
// filter graph unescaped.
const hostileText = `it's a:b \ %{pts} ; [x] , drawbox=c=red ' :fontsize=200`

// TestRestartAfterKill runs a small ladder with a hostile text watermark
// (which forces the source to be re-encoded as the "original" rendition),
// kills ffmpeg mid-stream, and checks that the renditions resume within 5 s.
func TestRestartAfterKill(t *testing.T) {
	needFFmpeg(t)
	g := startGateway(t)
	g.addChannel(t, &channel.Channel{
		ID:        "cam",
		Transcode: channel.Transcode{Enabled: true, Renditions: []string{"360p", "720p"}},
		Watermark: channel.Watermark{Text: &channel.TextWatermark{Text: hostileText, FontSize: 18, Color: "#FFCC00", Top: 10, Left: 10}},
	})
	srcCtx, stopSrc := context.WithCancel(context.Background())
	defer stopSrc()
	pushPattern(t, srcCtx, g.pushURL("cam"), "640x360", 15, 15, 60)
	require.Eventually(t, func() bool { s := g.gw.Hub.Stream("cam"); return s != nil && s.Live() }, 10*time.Second, 50*time.Millisecond)

	reg := NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			ChannelID:   "cam",
			LoadChannel: g.st.GetChannel,
			Gateway:     g.http,
			SourceToken: g.signer.SourceToken("cam"), // the raw source, not the watermarked original
			PublishURL:  SignedPublishURL(g.rtmp, g.signer, "cam", time.Minute),
			Preset:      "ultrafast",
			Stats:       reg,
		})
	}()
	keys := []string{"cam/360p", "cam/" + ingest.RenditionOriginal}
	live := func() bool {
		for _, k := range keys {
			s := g.gw.Hub.Stream(k)
			if s == nil || !s.Live() || s.Stats().Width == 0 {
				return false
			}
		}
		return true
	}
	require.Eventually(t, live, 20*time.Second, 50*time.Millisecond, "renditions never went live")
	require.Nil(t, g.gw.Hub.Stream("cam/720p"), "720p would upscale a 360p source")
	st, _ := reg.Get("cam")
	require.True(t, st.Watermark)
	require.Len(t, st.Renditions, 2)
	orig := g.gw.Hub.Stream("cam/original").Stats()
	require.Equal(t, 640, orig.Width)
	require.Equal(t, 360, orig.Height)
	require.Eventually(t, func() bool { s, _ := reg.Get("cam"); return s.Progress.Frame > 0 && s.Progress.Speed > 0 },
		10*time.Second, 100*time.Millisecond, "progress is reported")
	require.Eventually(t, func() bool { return g.gw.Hub.Stream("cam/360p").Stats().BytesIn > 50_000 },
		10*time.Second, 50*time.Millisecond, "media flows")

	// Kill ffmpeg (the whole process, no chance to clean up).
	st, _ = reg.Get("cam")
	require.NotZero(t, st.PID)
	before := g.gw.Hub.Stream("cam/360p").Stats()
	require.NoError(t, syscall.Kill(st.PID, syscall.SIGKILL))
	killed := time.Now()

	// Resumed: a new ffmpeg publishes into the same rendition streams (their
	// viewers stay connected through the hub's reconnect window) and media flows again.
	require.Eventually(t, func() bool {
		for _, k := range keys {
			s := g.gw.Hub.Stream(k)
			if s == nil || !s.Live() || s.Stats().Reconnects < 1 {
				return false
			}
		}
		s := g.gw.Hub.Stream("cam/360p").Stats()
		return s.BytesIn > before.BytesIn+20_000
	}, 5*time.Second, 20*time.Millisecond, "renditions did not resume within 5 s: %s", describe(g, keys))
	t.Logf("renditions resumed %s after the kill", time.Since(killed).Round(time.Millisecond))
	st, _ = reg.Get("cam")
	require.Equal(t, 1, st.Restarts)
	require.NotEqual(t, before, st.PID)
	require.Contains(t, st.LastError, "ffmpeg exited")

	// Stopping the worker (ctx) ends ffmpeg and returns nil.
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop")
	}
	require.Eventually(t, func() bool { s := g.gw.Hub.Stream("cam/360p"); return s == nil || !s.Live() }, 5*time.Second, 50*time.Millisecond)
}

func describe(g *testGateway, keys []string) string {
	out := ""
	for _, k := range keys {
		s := g.gw.Hub.Stream(k)
		if s == nil {
			out += k + ": gone; "
			continue
		}
		st := s.Stats()
		out += fmt.Sprintf("%s: live=%v reconnects=%d bytes=%d; ", k, st.Live, st.Reconnects, st.BytesIn)
	}
	return out
}
