package relay

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
)

// testConfig shortens the pauses and timeouts for tests.
func testConfig(t *testing.T) Config {
	return Config{
		Logger:       testLogger(t),
		MinBackoff:   50 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
		DialTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
	}
}

func newTestManager(t *testing.T, cfg Config) *Manager {
	m := New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, m.Close(ctx))
	})
	return m
}

// TestRelayToSecondInstance publishes real H.264/AAC into instance A, whose
// channel relays to instance B; B must receive a playable stream. Then B goes
// away: the relay backs off with an error; B comes back on the same port: the
// relay reconnects and media flows again.
func TestRelayToSecondInstance(t *testing.T) {
	tags := readFLV(t, makeFLV(t))
	log := testLogger(t)

	authB := newTestAuth(&channel.Channel{ID: "chb", Enabled: true})
	b := startInstance(t, "127.0.0.1:0", authB, nil, nil, log)
	bAddr := b.Addr

	relayURL := "rtmp://" + bAddr + "/stream/chb?sign=" + testToken
	m := newTestManager(t, testConfig(t))
	authA := newTestAuth(&channel.Channel{ID: "cha", Enabled: true, Relay: []channel.Relay{{URL: relayURL}}})
	a := startInstance(t, "127.0.0.1:0", authA, m, nil, log)

	ctx, cancel := context.WithCancel(context.Background())
	pubErr := publishLoop(ctx, t, "rtmp://"+a.Addr+"/stream/cha?sign="+testToken, tags)
	defer func() {
		cancel()
		require.NoError(t, <-pubErr)
	}()

	// B receives a keyframe-first H.264 + AAC stream with metadata.
	checkStream(t, collect(t, b.Hub, "chb", 2, 15*time.Second))
	st := waitState(t, m, "cha", 5*time.Second, "live", func(s State) bool { return s.Status == StatusLive && s.Bytes > 0 })
	require.Equal(t, "rtmp://"+bAddr+"/stream/***", st.URL)
	require.Zero(t, st.Reconnects)
	tot := m.Totals()
	require.Equal(t, 1, tot.Relays)
	require.Equal(t, 1, tot.Live)
	require.Positive(t, tot.Bytes)

	// B goes away: the relay backs off, with the error recorded.
	b.Stop()
	st = waitState(t, m, "cha", 10*time.Second, "backoff with an error", func(s State) bool {
		return s.Status == StatusBackoff && s.LastError != ""
	})
	require.NotContains(t, st.LastError, testToken)
	require.NotContains(t, st.URL, testToken)

	// B comes back on the same port: the relay reconnects and media flows again.
	b2 := startInstance(t, bAddr, authB, nil, nil, log)
	waitState(t, m, "cha", 10*time.Second, "live again", func(s State) bool {
		return s.Status == StatusLive && s.Reconnects >= 1
	})
	checkStream(t, collect(t, b2.Hub, "chb", 2, 15*time.Second))
	require.GreaterOrEqual(t, m.Totals().Reconnects, int64(1))
}

// TestRelayStopsWithStream: when the publisher leaves for good, the relay
// unpublishes from the target, reports stopped and is forgotten.
func TestRelayStopsWithStream(t *testing.T) {
	log := testLogger(t)
	b := startInstance(t, "127.0.0.1:0", newTestAuth(&channel.Channel{ID: "chb"}), nil, nil, log)
	m := newTestManager(t, testConfig(t))
	src := newSource(t)
	m.StreamStarted(context.Background(), &channel.Channel{ID: "src", Relay: []channel.Relay{
		{URL: "rtmp://" + b.Addr + "/stream/chb?sign=" + testToken},
		{URL: "rtmp://" + b.Addr + "/stream/chb?sign=" + testToken}, // duplicate: pushed once
		{URL: "http://example.com/x"},                               // invalid: listed, not started
	}}, src.stream)

	stop := src.run(t, 40)
	defer stop()
	waitState(t, m, "src", 10*time.Second, "live", func(s State) bool { return s.Status == StatusLive })
	// Told twice about the same stream, the manager keeps the running pushers.
	m.StreamStarted(context.Background(), &channel.Channel{ID: "src", Relay: []channel.Relay{{URL: "rtmp://127.0.0.1:1/a/b"}}}, src.stream)
	states := m.States("src")
	require.Len(t, states, 2)
	require.Equal(t, StatusStopped, states[1].Status)
	require.Contains(t, states[1].LastError, "scheme")
	require.Equal(t, "http://example.com/x/***", states[1].URL)
	bs := b.waitStream(t, "chb")
	require.Eventually(t, bs.Live, 5*time.Second, 10*time.Millisecond)
	// The source sent no metadata: the relay made some up from the hub's stats.
	checkStream(t, collect(t, b.Hub, "chb", 2, 10*time.Second))

	stop()
	src.stream.Kick("test over")
	// deleteStream reached B: its publisher detached without waiting for a timeout.
	require.Eventually(t, func() bool { return !bs.Live() }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return m.States("src") == nil }, 5*time.Second, 10*time.Millisecond)
	require.Zero(t, m.Totals().Relays)
}

// TestRelayCloseWaits: Close stops pushers in every state and waits for them.
func TestRelayCloseWaits(t *testing.T) {
	log := testLogger(t)
	b := startInstance(t, "127.0.0.1:0", newTestAuth(&channel.Channel{ID: "chb"}), nil, nil, log)
	silent := silentListener(t)
	m := New(testConfig(t))
	src := newSource(t)
	m.StreamStarted(context.Background(), &channel.Channel{ID: "src", Relay: []channel.Relay{
		{URL: "rtmp://" + b.Addr + "/stream/chb?sign=" + testToken}, // live
		{URL: "rtmp://" + silent + "/live/key"},                     // stuck connecting
		{URL: "rtmp://127.0.0.1:1/live/key"},                        // refused: backoff
	}}, src.stream)
	stop := src.run(t, 40)
	defer stop()
	waitState(t, m, "src", 10*time.Second, "live", func(s State) bool { return s.Status == StatusLive })
	require.Eventually(t, func() bool {
		st := m.States("src")
		return st[1].Status == StatusConnecting && strings.Contains(st[2].LastError, "connection refused")
	}, 5*time.Second, 5*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, m.Close(ctx))
	require.Less(t, time.Since(start), 3*time.Second)
	require.Nil(t, m.States("src"), "forgotten once stopped")
	require.Equal(t, Totals{Reconnects: m.Totals().Reconnects, Bytes: m.Totals().Bytes}, m.Totals())
	// Nothing of the relay is left running.
	require.Eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "shared/relay.(*pusher)") && !strings.Contains(stacks, "shared/rtmpclient.(*Conn)")
	}, 2*time.Second, 10*time.Millisecond)
	// A stream started after Close is ignored.
	m.StreamStarted(context.Background(), &channel.Channel{ID: "late", Relay: []channel.Relay{{URL: "rtmp://127.0.0.1:1/a/b"}}}, newSource(t).stream)
	require.Nil(t, m.States("late"))
}

// TestRelayErrorsNeverShowTheKey: errors from every failure mode are redacted.
func TestRelayErrorsNeverShowTheKey(t *testing.T) {
	log := testLogger(t)
	b := startInstance(t, "127.0.0.1:0", newTestAuth(&channel.Channel{ID: "chb"}), nil, nil, log)
	m := newTestManager(t, testConfig(t))
	src := newSource(t)
	const key = "chb?sign=wrong-secret-value"
	m.StreamStarted(context.Background(), &channel.Channel{ID: "src", Relay: []channel.Relay{{URL: "rtmp://" + b.Addr + "/stream/" + key}}}, src.stream)
	stop := src.run(t, 40)
	defer stop()
	st := waitState(t, m, "src", 10*time.Second, "refused", func(s State) bool { return s.LastError != "" })
	require.Contains(t, st.LastError, "NetStream.Publish")
	require.NotContains(t, st.LastError, "wrong-secret-value")
	require.False(t, strings.Contains(st.URL, "sign"), st.URL)
}
