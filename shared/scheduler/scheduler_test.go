package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/runner"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
)

// fakeRunner records starts and stops; handles are "h1", "h2"...
type fakeRunner struct {
	mu       sync.Mutex
	starts   []runner.Task
	stops    []string
	failNext int
	// gate, when set, is waited on inside Start (to interleave events).
	gate chan struct{}
	// byAttempt makes Start idempotent per broadcast and attempt, like ECS's client token.
	byAttempt map[string]string
}

func (f *fakeRunner) Start(ctx context.Context, t runner.Task) (string, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext > 0 {
		f.failNext--
		return "", errors.New("no capacity")
	}
	key := fmt.Sprintf("%s/%s/%d", t.ChannelID, t.BroadcastID, t.Attempt)
	if h, ok := f.byAttempt[key]; ok {
		return h, nil
	}
	f.starts = append(f.starts, t)
	h := fmt.Sprintf("h%d", len(f.starts))
	if f.byAttempt == nil {
		f.byAttempt = map[string]string{}
	}
	f.byAttempt[key] = h
	return h, nil
}

func (f *fakeRunner) Stop(ctx context.Context, handle, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, handle)
	return nil
}

func (f *fakeRunner) Describe(ctx context.Context, handle string) (runner.Status, error) {
	return runner.Status{}, runner.ErrUnknownTask
}

func (f *fakeRunner) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.starts), len(f.stops)
}

type env struct {
	st  *boltstore.Store
	run *fakeRunner
	s   *Scheduler
}

func newEnv(t *testing.T) *env {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	for id, mod := range map[string]func(*channel.Channel){
		"plain": func(*channel.Channel) {},
		"ladder": func(c *channel.Channel) {
			c.Transcode = channel.Transcode{Enabled: true, Renditions: []string{"360p", "720p"}}
		},
		"snapshots": func(c *channel.Channel) { c.Recording.Snapshots = true },
		"motion":    func(c *channel.Channel) { c.Recording.Motion.Enabled = true },
		"watermark": func(c *channel.Channel) { c.Watermark.Text = &channel.TextWatermark{Text: "hi"} },
	} {
		ch := &channel.Channel{ID: id, Name: id, Enabled: true}
		mod(ch)
		ch.Normalize()
		if err := st.CreateChannel(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	r := &fakeRunner{}
	s, err := New(Config{Store: st, Runner: r, RecordSize: "small", TranscodeSize: "large", Spot: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, run: r, s: s}
}

func started(ch, b string) events.Event {
	return events.StreamStarted(events.StreamDetail{ChannelID: ch, SessionID: b, BroadcastID: b,
		Gateway: "10.0.3.7:8080", RTMP: "10.0.3.7:1935", StartedAt: time.Now()})
}

func stopped(ch, b string) events.Event {
	now := time.Now()
	return events.StreamStopped(events.StreamDetail{ChannelID: ch, SessionID: b, BroadcastID: b,
		Gateway: "10.0.3.7:8080", StartedAt: now, StoppedAt: &now})
}

func (e *env) live(t *testing.T, ch, session string) {
	now := time.Now()
	if err := e.st.AcquireSession(context.Background(), store.Session{ChannelID: ch, SessionID: session,
		Gateway: "10.0.3.9:8080", StartedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
}

func TestStartDecisionAndTask(t *testing.T) {
	tests := []struct {
		channel string
		start   bool
		size    string
	}{
		{"plain", false, ""},
		{"ladder", true, "large"},
		{"watermark", true, "large"},
		{"snapshots", true, "small"},
		{"motion", true, "small"},
		{"unknown", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.channel, func(t *testing.T) {
			e := newEnv(t)
			if err := e.s.Handle(context.Background(), started(tc.channel, "b1")); err != nil {
				t.Fatal(err)
			}
			n, _ := e.run.counts()
			if (n == 1) != tc.start {
				t.Fatalf("%d starts, want start=%v", n, tc.start)
			}
			if !tc.start {
				return
			}
			want := runner.Task{ChannelID: tc.channel, BroadcastID: "b1", Gateway: "10.0.3.7:8080",
				GatewayRTMP: "10.0.3.7:1935", Size: tc.size, Spot: true, Attempt: 1}
			if e.run.starts[0] != want {
				t.Errorf("task %+v, want %+v", e.run.starts[0], want)
			}
			rec, err := e.st.GetWorkerTask(context.Background(), tc.channel, "b1")
			if err != nil || rec.State != store.TaskRunning || rec.Handle != "h1" || rec.Starts != 1 {
				t.Errorf("record %+v %v", rec, err)
			}
		})
	}
}

func TestDuplicateAndOutOfOrderEvents(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name               string
		events             []events.Event
		wantStarts, wantSt int
		wantState          string
	}{
		{"started twice", []events.Event{started("ladder", "b"), started("ladder", "b")}, 1, 0, store.TaskRunning},
		{"started, stopped", []events.Event{started("ladder", "b"), stopped("ladder", "b")}, 1, 1, store.TaskStopped},
		{"stopped before started", []events.Event{stopped("ladder", "b"), started("ladder", "b")}, 0, 0, store.TaskStopped},
		{"stopped twice then started", []events.Event{stopped("ladder", "b"), stopped("ladder", "b"), started("ladder", "b")}, 0, 0, store.TaskStopped},
		{"started, stopped, started again (late duplicate)", []events.Event{started("ladder", "b"), stopped("ladder", "b"), started("ladder", "b")}, 1, 1, store.TaskStopped},
		{"two broadcasts", []events.Event{started("ladder", "b1"), stopped("ladder", "b1"), started("ladder", "b2")}, 2, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for _, ev := range tc.events {
				if err := e.s.Handle(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			starts, stops := e.run.counts()
			if starts != tc.wantStarts || stops != tc.wantSt {
				t.Fatalf("starts %d stops %d, want %d %d", starts, stops, tc.wantStarts, tc.wantSt)
			}
			if tc.wantState != "" {
				rec, err := e.st.GetWorkerTask(ctx, "ladder", "b")
				if err != nil || rec.State != tc.wantState {
					t.Fatalf("record %+v %v, want state %s", rec, err, tc.wantState)
				}
			}
		})
	}
}

func TestFailedStartIsRetried(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.run.failNext = 1
	if err := e.s.Handle(ctx, started("ladder", "b")); err == nil {
		t.Fatal("failed start reported no error (the Lambda would not retry)")
	}
	rec, _ := e.st.GetWorkerTask(ctx, "ladder", "b")
	if rec.State != store.TaskFailed {
		t.Fatalf("record %+v", rec)
	}
	if err := e.s.Handle(ctx, started("ladder", "b")); err != nil {
		t.Fatal(err)
	}
	rec, _ = e.st.GetWorkerTask(ctx, "ladder", "b")
	if rec.State != store.TaskRunning || rec.Handle != "h1" || rec.Starts != 2 {
		t.Fatalf("record after retry %+v", rec)
	}
	if e.run.starts[0].Attempt != 2 {
		t.Fatalf("the retry reused attempt %d (ECS would answer from its idempotency cache)", e.run.starts[0].Attempt)
	}
}

func TestStoppedWhileStarting(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.run.gate = make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- e.s.Handle(ctx, started("ladder", "b")) }()
	// Wait until the Started claimed the broadcast, then stop it while RunTask is in flight.
	for {
		if rec, err := e.st.GetWorkerTask(ctx, "ladder", "b"); err == nil && rec.State == store.TaskStarting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := e.s.Handle(ctx, stopped("ladder", "b")); err != nil {
		t.Fatal(err)
	}
	close(e.run.gate)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	starts, stops := e.run.counts()
	if starts != 1 || stops != 1 || e.run.stops[0] != "h1" {
		t.Fatalf("starts %d, stops %v: the task started during the stop must be stopped", starts, e.run.stops)
	}
}

func TestConcurrentDuplicatesStartOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.s.Handle(ctx, started("ladder", "b")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if starts, _ := e.run.counts(); starts != 1 {
		t.Fatalf("%d starts, want 1", starts)
	}
}

func TestTaskStoppedRestartsWhileLive(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.live(t, "ladder", "b")
	if err := e.s.Handle(ctx, started("ladder", "b")); err != nil {
		t.Fatal(err)
	}
	// An old task's stop is ignored.
	if err := e.s.TaskStopped(ctx, TaskEnded{ChannelID: "ladder", BroadcastID: "b", Handle: "h0"}); err != nil {
		t.Fatal(err)
	}
	if starts, _ := e.run.counts(); starts != 1 {
		t.Fatal("stale task stop restarted the worker")
	}
	// The current one dies: restarted, on the session's gateway, attempt 2.
	if err := e.s.TaskStopped(ctx, TaskEnded{ChannelID: "ladder", BroadcastID: "b", Handle: "h1", Reason: "SpotInterruption"}); err != nil {
		t.Fatal(err)
	}
	// The same ECS event delivered twice starts nothing more.
	if err := e.s.TaskStopped(ctx, TaskEnded{ChannelID: "ladder", BroadcastID: "b", Handle: "h1"}); err != nil {
		t.Fatal(err)
	}
	starts, _ := e.run.counts()
	if starts != 2 || e.run.starts[1].Attempt != 2 || e.run.starts[1].Gateway != "10.0.3.9:8080" || e.run.starts[1].Size != "large" {
		t.Fatalf("starts %+v", e.run.starts)
	}
	rec, _ := e.st.GetWorkerTask(ctx, "ladder", "b")
	if rec.Handle != "h2" || rec.Starts != 2 || rec.State != store.TaskRunning {
		t.Fatalf("record %+v", rec)
	}
	// The stream ends (session released): the next death is final.
	if err := e.st.ReleaseSession(ctx, "ladder", "b"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.TaskStopped(ctx, TaskEnded{ChannelID: "ladder", BroadcastID: "b", Handle: "h2"}); err != nil {
		t.Fatal(err)
	}
	if starts, _ := e.run.counts(); starts != 2 {
		t.Fatal("restarted a worker whose stream ended")
	}
	rec, _ = e.st.GetWorkerTask(ctx, "ladder", "b")
	if rec.State != store.TaskStopped {
		t.Fatalf("record %+v", rec)
	}
}

func TestTaskStoppedOtherSessionOrCap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.live(t, "ladder", "b-new") // the channel is live again, on another broadcast
	if err := e.s.Handle(ctx, started("ladder", "b")); err != nil {
		t.Fatal(err)
	}
	if err := e.s.TaskStopped(ctx, TaskEnded{ChannelID: "ladder", BroadcastID: "b", Handle: "h1"}); err != nil {
		t.Fatal(err)
	}
	if starts, _ := e.run.counts(); starts != 1 {
		t.Fatal("restarted the worker of a finished broadcast")
	}

	e = newEnv(t)
	e.s.cfg.MaxStarts = 2
	e.live(t, "ladder", "b")
	_ = e.s.Handle(ctx, started("ladder", "b"))
	for h := 1; h <= 3; h++ {
		if err := e.s.TaskStopped(ctx, TaskEnded{ChannelID: "ladder", BroadcastID: "b", Handle: fmt.Sprintf("h%d", h)}); err != nil {
			t.Fatal(err)
		}
	}
	if starts, _ := e.run.counts(); starts != 2 {
		t.Fatalf("%d starts with MaxStarts 2", starts)
	}
	rec, _ := e.st.GetWorkerTask(ctx, "ladder", "b")
	if rec.State != store.TaskFailed {
		t.Fatalf("record %+v", rec)
	}
}

func TestParseTaskStateChangeSample(t *testing.T) {
	raw, err := os.ReadFile("testdata/ecs-task-stopped.json")
	if err != nil {
		t.Fatal(err)
	}
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	if env.Source != SourceECS || env.DetailType != TypeTaskStateChange {
		t.Fatalf("envelope %+v", env)
	}
	e, ok, err := ParseTaskStateChange(env.Detail)
	if err != nil || !ok {
		t.Fatalf("parse: %v %v", ok, err)
	}
	want := TaskEnded{ChannelID: "cam-1", BroadcastID: "4f1c9b2e7a6d3c58",
		Handle: "arn:aws:ecs:eu-west-1:111122223333:task/livestack/b99d40b3f9b14e8ea8e6e4b6a2c3a0d1",
		Reason: "SpotInterruption Your Spot Task was interrupted."}
	if e != want {
		t.Fatalf("got %+v\nwant %+v", e, want)
	}
	for name, detail := range map[string]string{
		"running":         `{"taskArn":"arn:x","lastStatus":"RUNNING","overrides":{"containerOverrides":[{"name":"worker","environment":[{"name":"LIVESTACK_CHANNEL_ID","value":"c"},{"name":"LIVESTACK_BROADCAST_ID","value":"b"}]}]}}`,
		"not our worker":  `{"taskArn":"arn:x","lastStatus":"STOPPED","overrides":{"containerOverrides":[{"name":"gateway"}]}}`,
		"other container": `{"taskArn":"arn:x","lastStatus":"STOPPED","overrides":{"containerOverrides":[{"name":"sidecar","environment":[{"name":"LIVESTACK_CHANNEL_ID","value":"c"},{"name":"LIVESTACK_BROADCAST_ID","value":"b"}]}]}}`,
	} {
		if _, ok, err := ParseTaskStateChange([]byte(detail)); ok || err != nil {
			t.Errorf("%s: ok=%v err=%v", name, ok, err)
		}
	}
	if _, _, err := ParseTaskStateChange([]byte(`{"taskArn":`)); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestHandleEnvelope(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	detail := `{"channelId":"ladder","sessionId":"b","broadcastId":"b","gateway":"10.0.3.7:8080","startedAt":"2026-12-06T03:00:00Z"}`
	good := Envelope{ID: "1", Source: events.SourceIngestAuth, DetailType: events.TypeStreamStarted, Detail: json.RawMessage(detail)}
	if err := e.s.HandleEnvelope(ctx, good); err != nil {
		t.Fatal(err)
	}
	if starts, _ := e.run.counts(); starts != 1 {
		t.Fatal("no start")
	}
	for name, env := range map[string]Envelope{
		"foreign source":   {ID: "2", Source: "evil", DetailType: events.TypeStreamStarted, Detail: json.RawMessage(detail)},
		"other ecs event":  {ID: "3", Source: SourceECS, DetailType: "ECS Container Instance State Change", Detail: json.RawMessage(`{}`)},
		"bad ecs detail":   {ID: "4", Source: SourceECS, DetailType: TypeTaskStateChange, Detail: json.RawMessage(`[`)},
		"bad stream event": {ID: "5", Source: events.SourceGateway, DetailType: events.TypeStreamStopped, Detail: json.RawMessage(`{}`)},
	} {
		if err := e.s.HandleEnvelope(ctx, env); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func FuzzParseTaskStateChange(f *testing.F) {
	raw, _ := os.ReadFile("testdata/ecs-task-stopped.json")
	var env Envelope
	_ = json.Unmarshal(raw, &env)
	f.Add([]byte(env.Detail))
	f.Add([]byte(`{"lastStatus":"STOPPED"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok, err := ParseTaskStateChange(b)
		if ok && (err != nil || e.ChannelID == "" || e.BroadcastID == "" || e.Handle == "") {
			t.Fatalf("ok with %+v %v", e, err)
		}
	})
}

func TestNeedsOverride(t *testing.T) {
	e := newEnv(t)
	e.s.cfg.Needs = NeedsPixels
	ctx := context.Background()
	for _, ch := range []string{"snapshots", "motion", "plain"} {
		if err := e.s.Handle(ctx, started(ch, "b")); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := e.run.counts(); n != 0 {
		t.Fatalf("%d starts for channels without pixel work", n)
	}
	if err := e.s.Handle(ctx, started("watermark", "b")); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.run.counts(); n != 1 {
		t.Fatalf("%d starts for a watermarked channel", n)
	}
}

// A stream of a channel that needs no worker, or of one that is gone, leaves
// no worker-task record when it stops; one that needs a worker leaves the
// record that keeps a late Started from starting it.
func TestStoppedWritesARecordOnlyWhereAWorkerCouldStart(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		channel string
		record  bool
	}{
		{"plain", false},
		{"gone", false},
		{"ladder", true},
		{"snapshots", true},
	}
	for _, tc := range tests {
		t.Run(tc.channel, func(t *testing.T) {
			e := newEnv(t)
			if err := e.s.Handle(ctx, stopped(tc.channel, "b")); err != nil {
				t.Fatal(err)
			}
			rec, err := e.st.GetWorkerTask(ctx, tc.channel, "b")
			switch {
			case tc.record && (err != nil || rec.State != store.TaskStopped):
				t.Fatalf("record %+v %v, want a stopped one", rec, err)
			case !tc.record && !errors.Is(err, store.ErrNotFound):
				t.Fatalf("record %+v %v, want none", rec, err)
			}
			if err := e.s.Handle(ctx, started(tc.channel, "b")); err != nil {
				t.Fatal(err)
			}
			if starts, _ := e.run.counts(); starts != 0 {
				t.Fatalf("a late Started started %d workers", starts)
			}
		})
	}
}
