package worker

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/runner"
)

// TestLocalFromHub runs the standalone adapter: the source is read from the
// in-process hub (no HTTP; works with FLV output off), renditions are
// published over RTMP and start no hooks of their own, and the worker returns
// nil once the stream has ended.
func TestLocalFromHub(t *testing.T) {
	needFFmpeg(t)
	g := startGateway(t)
	off := false
	g.addChannel(t, &channel.Channel{ID: "quiet", Outputs: channel.Outputs{FLV: &off},
		Transcode: channel.Transcode{Enabled: true, Renditions: []string{"360p"}}})
	srcCtx, stopSrc := context.WithCancel(context.Background())
	defer stopSrc()
	src := pushPattern(t, srcCtx, g.pushURL("quiet"), "640x360", 15, 30, 60)
	require.Eventually(t, func() bool { s := g.gw.Hub.Stream("quiet"); return s != nil && s.Live() }, 10*time.Second, 50*time.Millisecond)

	l := &Local{Hub: g.gw.Hub, Signer: g.signer, LoadChannel: g.st.GetChannel, Preset: "ultrafast", Stats: NewRegistry()}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { done <- l.Run(ctx, runner.Task{ChannelID: "quiet", GatewayRTMP: g.rtmp}) }()
	require.Eventually(t, func() bool {
		s := g.gw.Hub.Stream("quiet/360p")
		return s != nil && s.Live() && s.Stats().BytesIn > 20_000
	}, 20*time.Second, 50*time.Millisecond, "rendition never went live")
	st := g.gw.Hub.Stream("quiet/360p").Stats()
	require.Equal(t, 640, st.Width)
	require.False(t, g.gw.Hub.Stream("quiet/360p").DirectPlay(), "a rendition follows its channel's FLV setting")
	require.Equal(t, []string{"quiet"}, g.hooks.started(), "renditions start no hooks (relays, workers)")
	s, ok := l.Stats.Get("quiet")
	require.True(t, ok)
	require.Equal(t, "quiet/360p", s.Renditions[0].Key)
	require.InDelta(t, 2.0, s.GOPSeconds, 0.01)

	stopSrc()
	_ = src.Wait()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not return after the stream ended")
	}
}
