package worker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/transcode"
)

// TestLadder1080p publishes a 1080p test pattern, runs the worker with all
// four renditions, and checks each rendition as a viewer gets it from the
// gateway (ffprobe): resolution, bitrate within 20 % of the template,
// keyframes at the same instants on every rendition; then the ABR master;
// then that the worker exits cleanly when the source stops.
func TestLadder1080p(t *testing.T) {
	needFFmpeg(t)
	g := startGateway(t)
	g.addChannel(t, &channel.Channel{ID: "big", Transcode: channel.Transcode{Enabled: true, Renditions: []string{"1080p", "360p", "720p", "480p"}}})

	srcCtx, stopSrc := context.WithCancel(context.Background())
	defer stopSrc()
	// 1080p at 10 fps keeps the two shared cores able to decode and encode
	// four renditions in real time; keyframe every 2 s.
	src := pushPattern(t, srcCtx, g.pushURL("big"), "1920x1080", 10, 20, 40)
	require.Eventually(t, func() bool { s := g.gw.Hub.Stream("big"); return s != nil && s.Live() }, 10*time.Second, 50*time.Millisecond)

	reg := NewRegistry()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		done <- Run(ctx, Config{
			ChannelID:   "big",
			LoadChannel: g.st.GetChannel,
			Gateway:     g.http,
			PublishURL:  SignedPublishURL(g.rtmp, g.signer, "big", time.Minute),
			Preset:      "ultrafast",
			Stats:       reg,
		})
	}()

	rends := []string{"360p", "480p", "720p", "1080p"}
	require.Eventually(t, func() bool {
		for _, r := range rends {
			s := g.gw.Hub.Stream("big/" + r)
			if s == nil || !s.Live() || s.Stats().Width == 0 {
				return false
			}
		}
		return true
	}, 25*time.Second, 100*time.Millisecond, "renditions never went live")
	st, ok := reg.Get("big")
	require.True(t, ok)
	require.Equal(t, StateRunning, st.State)
	require.Equal(t, 2.0, st.GOPSeconds, "GOP follows the source's keyframe interval")
	require.Equal(t, 1080, st.Source.Height)
	require.Len(t, st.Renditions, 4)

	// Capture three whole GOPs of every rendition, at the same time.
	files := make(map[string]string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range rends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := capture(t, "http://"+g.http+"/big/"+r+"/live.flv", 3, 30*time.Second)
			mu.Lock()
			files[r] = p
			mu.Unlock()
		}()
	}
	wg.Wait()

	probes := map[string]probeResult{}
	for _, r := range rends {
		tpl, _ := transcode.Lookup(r)
		p := ffprobe(t, files[r])
		probes[r] = p
		t.Logf("%s: %dx%d %s %.0f bit/s, %d frames, keyframes at %v", r, p.Width, p.Height, p.Codec, p.Bitrate, p.Frames, p.KeyTimes)
		require.Equal(t, "h264", p.Codec, r)
		require.Equal(t, tpl.Width, p.Width, r)
		require.Equal(t, tpl.Height, p.Height, r)
		require.InEpsilon(t, float64(tpl.Bitrate), p.Bitrate, 0.20, "%s bitrate", r)
		require.GreaterOrEqual(t, len(p.KeyTimes), 4, "%s: three whole GOPs captured", r)
		for i := 1; i < len(p.KeyTimes); i++ {
			require.InDelta(t, 2000, p.KeyTimes[i]-p.KeyTimes[i-1], 1, "%s: fixed GOP", r)
		}
	}
	// Aligned: every keyframe time inside the common window is a keyframe of
	// every rendition.
	lo, hi := int64(0), int64(1<<62)
	for _, p := range probes {
		lo, hi = max(lo, p.KeyTimes[0]), min(hi, p.KeyTimes[len(p.KeyTimes)-1])
	}
	require.Less(t, lo, hi, "the captures overlap by at least one GOP")
	for _, a := range rends {
		for _, kt := range probes[a].KeyTimes {
			if kt < lo || kt > hi {
				continue
			}
			for _, b := range rends {
				require.Contains(t, probes[b].KeyTimes, kt, "keyframe at %d ms of %s missing in %s", kt, a, b)
			}
		}
	}

	// ABR master.
	resp, err := http.Get("http://" + g.http + "/big/index.m3u8")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "application/vnd.apple.mpegurl", resp.Header.Get("Content-Type"))
	t.Logf("master:\n%s", body)
	var m playlist.Multivariant
	require.NoError(t, m.Unmarshal(body))
	require.Len(t, m.Variants, 4)
	for i, v := range m.Variants {
		r := rends[i] // lowest bandwidth first
		tpl, _ := transcode.Lookup(r)
		require.Equal(t, r+"/live.m3u8", v.URI)
		require.Equal(t, fmt.Sprintf("%dx%d", tpl.Width, tpl.Height), v.Resolution)
		require.Len(t, v.Codecs, 2)
		require.Regexp(t, `^avc1\.[0-9a-f]{6}$`, v.Codecs[0])
		require.Equal(t, "mp4a.40.2", v.Codecs[1])
		require.NotNil(t, v.FrameRate)
		require.InDelta(t, 10, *v.FrameRate, 1)
		require.Equal(t, tpl.Bitrate*11/10+transcode.DefaultAudioBitrate, v.Bandwidth, "%s BANDWIDTH", r)
		require.Equal(t, tpl.Bitrate+transcode.DefaultAudioBitrate, *v.AverageBandwidth, "%s AVERAGE-BANDWIDTH", r)
	}
	resp, err = http.Get("http://" + g.http + "/nosuch/index.m3u8")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// The source stops: the worker exits cleanly once the gateway ends the stream.
	stopSrc()
	_ = src.Wait()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not exit after the stream ended")
	}
	_, ok = reg.Get("big")
	require.False(t, ok, "a finished worker leaves the registry")
}
