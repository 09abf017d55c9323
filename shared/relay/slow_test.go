package relay

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
)

// TestStalledTargetIsolated: a target that stops reading makes the relay fail
// and back off, while the publisher and a viewer of the same stream carry on;
// once the target recovers the relay reconnects.
func TestStalledTargetIsolated(t *testing.T) {
	log := testLogger(t)
	b := startInstance(t, "127.0.0.1:0", newTestAuth(&channel.Channel{ID: "chb"}), nil, nil, log)
	proxy := newGateProxy(t, b.Addr)
	cfg := testConfig(t)
	cfg.WriteTimeout = 500 * time.Millisecond
	m := newTestManager(t, cfg)

	src := newSource(t)
	m.StreamStarted(context.Background(), &channel.Channel{ID: "src", Relay: []channel.Relay{
		{URL: "rtmp://" + proxy.Addr() + "/stream/chb?sign=" + testToken},
	}}, src.stream)
	stop := src.run(t, 200<<10) // 200 KB frames at 25 fps: 40 Mbit/s fills the socket buffers fast
	defer stop()
	waitState(t, m, "src", 10*time.Second, "live", func(s State) bool { return s.Status == StatusLive && s.Bytes > 1<<20 })

	// A viewer of the source stream, counting the frames it gets.
	viewer, err := src.stream.Subscribe(hub.SubscribeOptions{})
	require.NoError(t, err)
	vctx, vcancel := context.WithCancel(context.Background())
	var viewed atomic.Int64
	viewerDone := make(chan struct{})
	go func() {
		defer close(viewerDone)
		defer viewer.Close()
		var pkts []*hub.Packet
		for {
			var err error
			pkts, err = viewer.Read(vctx, pkts)
			for _, p := range pkts {
				if p.Type == flv.TagVideo && !p.Header {
					viewed.Add(1)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	require.Eventually(t, func() bool { return viewed.Load() > 0 }, 5*time.Second, 5*time.Millisecond)

	proxy.setPaused(true)
	stalledAt := time.Now()
	published0, viewed0 := src.frames.Load(), viewed.Load()
	st := waitState(t, m, "src", 15*time.Second, "backoff after the stall", func(s State) bool {
		return s.Status == StatusBackoff && s.LastError != ""
	})
	require.True(t, strings.Contains(st.LastError, "timeout") || strings.Contains(st.LastError, "too slow"), st.LastError)
	// Hold the stall a little longer, then compare what the viewer got with
	// what was published meanwhile: it kept up, whatever the relay did.
	time.Sleep(300 * time.Millisecond)
	published, got := src.frames.Load()-published0, viewed.Load()-viewed0
	vcancel()
	<-viewerDone
	t.Logf("relay failed %s into the stall (%s); published %d frames, the viewer got %d",
		time.Since(stalledAt).Round(time.Millisecond), st.LastError, published, got)
	require.Positive(t, published)
	require.GreaterOrEqual(t, got, published-3)
	require.Less(t, src.longestWrite(), 250*time.Millisecond, "the publisher never waited for the relay")

	proxy.setPaused(false)
	waitState(t, m, "src", 15*time.Second, "live again", func(s State) bool {
		return s.Status == StatusLive && s.Reconnects >= 1
	})
}

// TestSlowTargetDroppedByHub: a target that takes the stream slower than real
// time makes the relay lag; the hub skips it to keyframes and then drops it
// (hub.ErrTooSlow), and the relay reconnects like after any other failure.
func TestSlowTargetDroppedByHub(t *testing.T) {
	log := testLogger(t)
	b := startInstance(t, "127.0.0.1:0", newTestAuth(&channel.Channel{ID: "chb"}), nil, nil, log)
	proxy := newGateProxy(t, b.Addr)
	proxy.setRate(3 << 20) // below the stream's 5 MB/s
	cfg := testConfig(t)
	// Writes complete, slowly: with big socket buffers the kernel wakes a
	// blocked writer only once half the buffer drained, seconds at this rate.
	cfg.WriteTimeout = 30 * time.Second
	m := newTestManager(t, cfg)

	src := newSourceHub(t, hub.Config{MaxLag: 300 * time.Millisecond, MaxSkips: 1, SkipPeriod: time.Minute})
	m.StreamStarted(context.Background(), &channel.Channel{ID: "src", Relay: []channel.Relay{
		{URL: "rtmp://" + proxy.Addr() + "/stream/chb?sign=" + testToken},
	}}, src.stream)
	stop := src.run(t, 200<<10)
	defer stop()
	st := waitState(t, m, "src", 20*time.Second, "dropped as too slow", func(s State) bool {
		return strings.Contains(s.LastError, "too slow")
	})
	require.Contains(t, st.LastError, hub.ErrTooSlow.Error())
	proxy.setRate(0)
	waitState(t, m, "src", 20*time.Second, "live again", func(s State) bool {
		return s.Status == StatusLive && s.Reconnects >= 1
	})
}
