package streamhooks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
)

type recorder struct {
	mu  sync.Mutex
	evs []events.Event
	at  []time.Time
}

func (r *recorder) Publish(_ context.Context, evs ...events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		r.evs = append(r.evs, ev)
		r.at = append(r.at, time.Now())
	}
	return nil
}

func (r *recorder) snapshot() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.evs...)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestStartedThenStoppedAfterReconnectWindow(t *testing.T) {
	const window = 300 * time.Millisecond
	h := hub.New(hub.Config{ReconnectWindow: window, Logger: quiet()})
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	if err := st.AcquireSession(context.Background(), store.Session{ChannelID: "cam", SessionID: "sess-1",
		Gateway: "[::]:8080", StartedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	e := &Emitter{Publisher: rec, Sessions: st, Region: "eu-west-1", Logger: quiet()}
	e.SetAddrs("0.0.0.0:8080", ":1935")

	pub, err := h.Publish("cam", hub.PublishOptions{Session: "sess-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.StreamStarted(context.Background(), &channel.Channel{ID: "cam"}, pub.Stream())
	waitEvents(t, rec, 1)
	// A reconnect inside the window continues the stream: no Stopped.
	pub.Close("network blip")
	time.Sleep(window / 3)
	pub2, err := h.Publish("cam", hub.PublishOptions{Session: "sess-2"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(window * 2)
	if n := len(rec.snapshot()); n != 1 {
		t.Fatalf("%d events during a reconnect, want only Started", n)
	}
	closed := time.Now()
	pub2.Close("done")
	waitEvents(t, rec, 2)
	evs := rec.snapshot()
	if evs[0].Type != events.TypeStreamStarted || evs[1].Type != events.TypeStreamStopped {
		t.Fatalf("types %s, %s", evs[0].Type, evs[1].Type)
	}
	s0, s1 := evs[0].Stream(), evs[1].Stream()
	if s0.ChannelID != "cam" || s0.BroadcastID != "sess-1" || s0.SessionID != "sess-1" || s0.Gateway != "127.0.0.1:8080" ||
		s0.RTMP != "127.0.0.1:1935" || s0.Region != "eu-west-1" || !s0.StartedAt.Equal(now) || s0.StoppedAt != nil {
		t.Errorf("started detail %+v", s0)
	}
	if s1.BroadcastID != s0.BroadcastID || s1.StoppedAt == nil || s1.Reason != "ended" {
		t.Errorf("stopped detail %+v", s1)
	}
	if d := rec.at[1].Sub(closed); d < window-50*time.Millisecond {
		t.Errorf("Stopped %s after the publisher left, before the %s reconnect window", d, window)
	}
	if err := e.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type noSessions struct{}

func (noSessions) GetSession(context.Context, string) (store.Session, error) {
	return store.Session{}, store.ErrNotFound
}

func TestWithoutSessionAndOnShutdown(t *testing.T) {
	h := hub.New(hub.Config{ReconnectWindow: time.Hour, Logger: quiet()})
	rec := &recorder{}
	e := &Emitter{Publisher: rec, Sessions: noSessions{}, Logger: quiet()}
	e.SetAddrs("10.0.0.5:8080", "10.0.0.5:1935")
	ctx, cancel := context.WithCancel(context.Background())
	pub, err := h.Publish("a", hub.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.StreamStarted(ctx, &channel.Channel{ID: "a"}, pub.Stream())
	waitEvents(t, rec, 1)
	cancel() // server shutdown
	waitEvents(t, rec, 2)
	evs := rec.snapshot()
	if b := evs[0].Stream().BroadcastID; len(b) != 16 || evs[1].Stream().BroadcastID != b {
		t.Errorf("broadcast ids %q %q", b, evs[1].Stream().BroadcastID)
	}
	if evs[0].Stream().Gateway != "10.0.0.5:8080" || evs[1].Stream().Reason != "shutdown" {
		t.Errorf("%+v %+v", evs[0].Stream(), evs[1].Stream())
	}
}

func TestPublishErrorIsLoggedNotFatal(t *testing.T) {
	h := hub.New(hub.Config{ReconnectWindow: 10 * time.Millisecond, Logger: quiet()})
	var calls int
	var mu sync.Mutex
	e := &Emitter{Publisher: events.PublisherFunc(func(context.Context, ...events.Event) error {
		mu.Lock()
		calls++
		mu.Unlock()
		return errors.New("bus down")
	}), Logger: quiet()}
	pub, _ := h.Publish("a", hub.PublishOptions{})
	e.StreamStarted(context.Background(), &channel.Channel{ID: "a"}, pub.Stream())
	pub.Close("bye")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("%d publish calls, want 2", calls)
	}
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		":8080": "127.0.0.1:8080", "0.0.0.0:1": "127.0.0.1:1", "[::]:2": "127.0.0.1:2",
		"10.0.0.1:3": "10.0.0.1:3", "gw.internal:4": "gw.internal:4", "garbage": "garbage",
	} {
		if got := Dialable(in); got != want {
			t.Errorf("Dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

func waitEvents(t *testing.T, r *recorder, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if len(r.snapshot()) >= n {
			return
		}
	}
	t.Fatalf("waited for %d events, have %d", n, len(r.snapshot()))
}
