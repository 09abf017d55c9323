package worker

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/transcode"
	"github.com/livestack/livestack/shared/watermark"
)

func TestRunRefusesPrivateWatermarkImage(t *testing.T) {
	for _, u := range []string{"https://169.254.169.254/latest/meta-data/iam", "https://127.0.0.1/wm.png", "http://example.com/wm.png"} {
		ch := &channel.Channel{ID: "wm", Enabled: true, Watermark: channel.Watermark{Image: &channel.ImageWatermark{URL: u}}}
		reg := NewRegistry()
		err := Run(context.Background(), Config{
			ChannelID: "wm", Channel: ch, Gateway: "127.0.0.1:1",
			PublishURL: func(string) (string, error) { return "rtmp://127.0.0.1:1/stream/wm/original", nil },
			Stats:      reg,
			Logger:     slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)),
		})
		require.Error(t, err, u)
		if strings.HasPrefix(u, "http:") {
			require.ErrorIs(t, err, watermark.ErrNotHTTPS)
		} else {
			require.ErrorIs(t, err, watermark.ErrForbiddenAddress)
			require.Contains(t, err.Error(), "is not a public address")
		}
		_, ok := reg.Get("wm")
		require.False(t, ok)
	}
}

func TestRunNoWork(t *testing.T) {
	ch := &channel.Channel{ID: "plain", Enabled: true}
	err := Run(context.Background(), Config{ChannelID: "plain", Channel: ch, Gateway: "127.0.0.1:1",
		PublishURL: func(string) (string, error) { return "", nil }})
	require.NoError(t, err, "a channel without ladder or watermark needs no worker")
	require.False(t, NeedsWorker(ch))
	require.True(t, NeedsWorker(&channel.Channel{Transcode: channel.Transcode{Enabled: true, Renditions: []string{"360p"}}}))
	require.False(t, NeedsWorker(&channel.Channel{Transcode: channel.Transcode{Enabled: true}}))
	require.True(t, NeedsWorker(&channel.Channel{Watermark: channel.Watermark{Text: &channel.TextWatermark{Text: "x"}}}))

	_, err = func() (struct{}, error) {
		return struct{}{}, Run(context.Background(), Config{ChannelID: "../x", PublishURL: func(string) (string, error) { return "", nil }})
	}()
	require.ErrorContains(t, err, "invalid channel id")
	require.ErrorContains(t, Run(context.Background(), Config{ChannelID: "x"}), "PublishURL")
	require.ErrorContains(t, Run(context.Background(), Config{ChannelID: "x", PublishURL: func(string) (string, error) { return "", nil }}), "Gateway or Source")
}

func TestSignedPublishURL(t *testing.T) {
	g := startGatewayless(t)
	u, err := SignedPublishURL("10.0.0.5:1935", g, "demo", time.Hour)("720p")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u, "rtmp://10.0.0.5:1935/stream/demo/720p?sign="), u)
	sign := u[strings.Index(u, "sign=")+5:]
	require.NoError(t, g.Verify("demo/720p", sign, time.Now()))
	require.Error(t, g.Verify("demo", sign, time.Now()), "signed for the rendition name only")
}

// tagsOf feeds tags to probe.
func tagsOf(tags ...flv.Tag) <-chan tagOrErr {
	ch := make(chan tagOrErr, len(tags))
	for _, t := range tags {
		ch <- tagOrErr{tag: t}
	}
	close(ch)
	return ch
}

func TestProbe(t *testing.T) {
	// A real AVC sequence header (640x360) from the fixture-free path: build
	// one with ffmpeg-independent bytes is impractical, so probe only the
	// keyframe arithmetic here and the SPS path in the e2e tests.
	key := func(ts uint32, n int) flv.Tag {
		return flv.Tag{Type: flv.TagVideo, Timestamp: ts, Data: append([]byte{0x17, 1, 0, 0, 0}, make([]byte, n)...)}
	}
	inter := func(ts uint32, n int) flv.Tag {
		return flv.Tag{Type: flv.TagVideo, Timestamp: ts, Data: append([]byte{0x27, 1, 0, 0, 0}, make([]byte, n)...)}
	}
	hdr := flv.Tag{Type: flv.TagVideo, Timestamp: 1000, Data: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe0, 0}}
	aac := flv.Tag{Type: flv.TagAudio, Timestamp: 1000, Data: []byte{0xaf, 0, 0x12, 0x10}}
	tags := []flv.Tag{{Type: flv.TagScript, Data: []byte{2, 0, 0}}, hdr, aac, key(1000, 1000)}
	for i := 1; i < 30; i++ {
		tags = append(tags, inter(1000+uint32(i)*50, 500))
	}
	tags = append(tags, key(2500, 1000), inter(2550, 1))
	info, buf, err := probe(context.Background(), tagsOf(tags...), time.Second, 2)
	require.NoError(t, err)
	require.Equal(t, 1500*time.Millisecond, info.KeyframeInterval)
	require.InDelta(t, 20, info.FPS, 0.01, "30 frames over 1.5 s")
	require.Equal(t, (1005+29*505)*8*2/3, info.VideoBitrate)
	require.Equal(t, "aac", info.AudioCodec)
	require.Len(t, buf, len(tags)-1, "everything up to the second keyframe is kept for ffmpeg")

	// One keyframe is enough on a restart.
	_, buf, err = probe(context.Background(), tagsOf(tags...), time.Second, 1)
	require.NoError(t, err)
	require.Len(t, buf, 4)

	// Audio only: nothing to transcode.
	_, _, err = probe(context.Background(), tagsOf(aac, aac), time.Second, 2)
	require.ErrorIs(t, err, errNoVideo)
}

func TestStderrLoggerRateLimits(t *testing.T) {
	var out bytes.Buffer
	l := newStderrLogger(slog.New(slog.NewTextHandler(&out, nil)).With("channel", "c1"))
	for i := 0; i < 50; i++ {
		_, _ = l.Write([]byte("line one\nline "))
		_, _ = l.Write([]byte("two\n"))
	}
	require.Equal(t, stderrBurst, strings.Count(out.String(), "\n"))
	require.Contains(t, out.String(), "channel=c1")
	require.Contains(t, out.String(), "src=ffmpeg")
	require.Contains(t, out.String(), `msg="line two"`)
	require.Equal(t, 100-stderrBurst, l.suppressed)
	l.window = time.Now().Add(-time.Minute)
	_, _ = l.Write([]byte("later\n"))
	require.Contains(t, out.String(), "ffmpeg log lines suppressed")
	require.Contains(t, out.String(), "count=80")
}

func TestRegistryMetrics(t *testing.T) {
	r := NewRegistry()
	r.update("a", func(s *Stats) {
		s.State = StateRunning
		s.Renditions = []Rendition{{Name: "360p"}, {Name: "720p"}}
		s.Progress = transcode.Progress{FPS: 29.5, Speed: 1.01, DropFrames: 3, DupFrames: 1}
		s.Restarts = 2
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(r)
	value := func(name string) (float64, bool) {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			m := mf.GetMetric()[0]
			require.Equal(t, "a", m.GetLabel()[0].GetValue())
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
		return 0, false
	}
	for name, want := range map[string]float64{
		"livestack_worker_restarts_total": 2, "livestack_worker_dropped_frames_total": 3,
		"livestack_worker_duplicated_frames_total": 1, "livestack_worker_fps": 29.5,
		"livestack_worker_speed": 1.01, "livestack_worker_ffmpeg_up": 1, "livestack_worker_renditions": 2,
	} {
		got, ok := value(name)
		require.True(t, ok, name)
		require.Equal(t, want, got, name)
	}
	require.Equal(t, "transcode", r.Name())
	require.Nil(t, r.StreamStats("b"))
	got := r.StreamStats("a").(Stats)
	require.Equal(t, 2, got.Restarts)
	r.remove("a")
	require.Empty(t, r.List())
	_, ok := value("livestack_worker_fps")
	require.False(t, ok, "a finished worker's gauges are gone")
	got2, ok := value("livestack_worker_restarts_total")
	require.True(t, ok, "restart counters outlive the worker")
	require.Equal(t, 2.0, got2)
}
