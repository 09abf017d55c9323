package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/runner"
	"github.com/livestack/livestack/shared/store"
)

// recordingRunner stands in for the worker runner in this test only: it
// records what the scheduler asks for.
type recordingRunner struct {
	mu     sync.Mutex
	starts []runner.Task
	stops  []string
}

func (r *recordingRunner) Start(_ context.Context, t runner.Task) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, t)
	return fmt.Sprintf("rec/%d", len(r.starts)), nil
}

func (r *recordingRunner) Stop(_ context.Context, handle, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stops = append(r.stops, handle)
	return nil
}

func (r *recordingRunner) Describe(context.Context, string) (runner.Status, error) {
	return runner.Status{}, runner.ErrUnknownTask
}

func (r *recordingRunner) calls() ([]runner.Task, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]runner.Task(nil), r.starts...), append([]string(nil), r.stops...)
}

// A publish through the standalone binary produces a Stream Started event on
// the in-process bus, and the scheduler asks the runner for a worker with
// the channel and the gateway address; when the stream ends (after the
// reconnect window) the worker is stopped. A channel that needs no pixel work
// gets events but no worker.
func TestPublishStartsAndStopsWorker(t *testing.T) {
	fx := media(t)
	rr := &recordingRunner{}
	in := testInstance(t, func(c *config) {
		c.WorkerRunner = rr
		c.ReconnectWindow = 500 * time.Millisecond
	})
	var mu sync.Mutex
	var seen []events.Event
	in.Scheduling.Bus.Subscribe(func(_ context.Context, ev events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, ev)
		return nil
	})
	ladder := in.addChannel(t, "ladder", func(c *channel.Channel) {
		c.Transcode = channel.Transcode{Enabled: true, Codec: "h264", Renditions: []string{"360p"}}
	})
	plain := in.addChannel(t, "plain", func(c *channel.Channel) { c.Recording.MP4 = true })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	perr := make(chan error, 2)
	go func() { perr <- publishTags(ctx, ladder, fx, publishOpts{}) }()
	go func() { perr <- publishTags(ctx, plain, fx, publishOpts{}) }()

	var sess store.Session
	waitFor(t, 10*time.Second, func() bool {
		starts, _ := rr.calls()
		return len(starts) == 1
	}, "the scheduler did not start a worker")
	sess, err := in.Store.GetSession(context.Background(), "ladder")
	require.NoError(t, err)
	starts, _ := rr.calls()
	httpAddr := in.Gateway.Addrs().HTTP
	require.Equal(t, runner.Task{
		ChannelID: "ladder", BroadcastID: sess.SessionID, Gateway: httpAddr,
		GatewayRTMP: in.Gateway.Addrs().RTMP, Attempt: 1,
	}, starts[0])

	tasks := in.Store.(store.WorkerTasks)
	waitFor(t, 5*time.Second, func() bool {
		rec, err := tasks.GetWorkerTask(context.Background(), "ladder", sess.SessionID)
		return err == nil && rec.State == store.TaskRunning && rec.Handle == "rec/1"
	}, "the worker task was not recorded as running")

	for i := 0; i < 2; i++ {
		require.NoError(t, <-perr)
	}
	waitFor(t, 10*time.Second, func() bool {
		_, stops := rr.calls()
		return len(stops) == 1
	}, "the worker was not stopped after the stream ended")
	starts, stops := rr.calls()
	require.Len(t, starts, 1, "the plain channel must not get a worker")
	require.Equal(t, []string{"rec/1"}, stops)

	// The plain channel's MP4 recording is announced once it is stored.
	waitFor(t, 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range seen {
			if r := ev.Recording(); r != nil && r.ChannelID == "plain" && r.Kind == store.KindMP4 && r.Key != "" && r.Size > 0 {
				return true
			}
		}
		return false
	}, "no Recording Ready for the plain channel's MP4")
	resp, err := http.Get(in.URLs.PlayBase + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Regexp(t, `(?m)^livestack_events_bus_handled_total [1-9]`, string(body))
	require.Contains(t, string(body), "livestack_events_bus_dropped_total 0")

	mu.Lock()
	defer mu.Unlock()
	kinds := map[string]map[string]int{}
	for _, ev := range seen {
		if ev.Type == events.TypeRecordingReady {
			continue
		}
		d := ev.Stream()
		require.NotNil(t, d)
		if kinds[d.ChannelID] == nil {
			kinds[d.ChannelID] = map[string]int{}
		}
		kinds[d.ChannelID][ev.Type]++
		require.Equal(t, httpAddr, d.Gateway)
		require.Equal(t, events.SourceGateway, ev.Source)
	}
	for _, ch := range []string{"ladder", "plain"} {
		require.Equal(t, 1, kinds[ch][events.TypeStreamStarted], "Stream Started of %s", ch)
		require.Equal(t, 1, kinds[ch][events.TypeStreamStopped], "Stream Stopped of %s", ch)
	}
}
