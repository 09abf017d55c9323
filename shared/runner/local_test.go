package runner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitState(t *testing.T, l *Local, h, state string) Status {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		st, err := l.Describe(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == state {
			return st
		}
	}
	t.Fatalf("%s never reached %s", h, state)
	return Status{}
}

func TestLocalRestartsWhileLive(t *testing.T) {
	var live atomic.Bool
	live.Store(true)
	var calls atomic.Int32
	var mu sync.Mutex
	var seen []Task
	l, err := NewLocal(LocalConfig{
		Run: func(ctx context.Context, task Task) error {
			mu.Lock()
			seen = append(seen, task)
			mu.Unlock()
			switch calls.Add(1) {
			case 1:
				return errors.New("ffmpeg died")
			case 2:
				panic("worker bug")
			case 3:
				return nil // returned while live: restarted too
			}
			live.Store(false)
			return nil
		},
		Live:       func(string) bool { return live.Load() },
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	task := Task{ChannelID: "c1", BroadcastID: "b1", Gateway: "127.0.0.1:8080"}
	h, err := l.Start(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	st := waitState(t, l, h, StateStopped)
	if calls.Load() != 4 || st.Restarts != 3 || st.StoppedReason != "stream ended" {
		t.Fatalf("calls %d, status %+v", calls.Load(), st)
	}
	for _, s := range seen {
		if s != task {
			t.Errorf("run got %+v", s)
		}
	}
}

func TestLocalErrorWithoutLiveFuncRestarts(t *testing.T) {
	var calls atomic.Int32
	l, _ := NewLocal(LocalConfig{
		Run: func(ctx context.Context, task Task) error {
			if calls.Add(1) < 3 {
				return errors.New("boom")
			}
			return nil
		},
		MinBackoff: time.Millisecond, Logger: quiet(),
	})
	h, _ := l.Start(context.Background(), Task{ChannelID: "c"})
	waitState(t, l, h, StateStopped)
	if calls.Load() != 3 {
		t.Fatalf("%d calls, want 3", calls.Load())
	}
}

func TestLocalStopCancelsAndWaits(t *testing.T) {
	started := make(chan struct{})
	var returned atomic.Bool
	l, _ := NewLocal(LocalConfig{
		Run: func(ctx context.Context, task Task) error {
			close(started)
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond)
			returned.Store(true)
			return ctx.Err()
		},
		Live:   func(string) bool { return true },
		Logger: quiet(),
	})
	h, _ := l.Start(context.Background(), Task{ChannelID: "c"})
	<-started
	if err := l.Stop(context.Background(), h, "stream stopped"); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Fatal("Stop returned before the worker")
	}
	st, _ := l.Describe(context.Background(), h)
	if st.State != StateStopped || st.StoppedReason != "stopped: stream stopped" {
		t.Fatalf("%+v", st)
	}
	if err := l.Stop(context.Background(), h, "again"); err != nil {
		t.Fatal(err)
	}
	if err := l.Stop(context.Background(), "local/none/1", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Describe(context.Background(), "nope"); !errors.Is(err, ErrUnknownTask) {
		t.Fatal(err)
	}
}

func TestLocalCloseStopsAll(t *testing.T) {
	l, _ := NewLocal(LocalConfig{
		Run:    func(ctx context.Context, task Task) error { <-ctx.Done(); return nil },
		Live:   func(string) bool { return true },
		Logger: quiet(),
	})
	for _, c := range []string{"a", "b", "c"} {
		if _, err := l.Start(context.Background(), Task{ChannelID: c}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, st := range l.List() {
		if st.State != StateStopped {
			t.Errorf("%+v", st)
		}
	}
	if _, err := NewLocal(LocalConfig{}); err == nil {
		t.Error("NewLocal without Run succeeded")
	}
}

func TestTaskEnv(t *testing.T) {
	env := Task{ChannelID: "c", BroadcastID: "b", Gateway: "10.0.0.1:8080", GatewayRTMP: "10.0.0.1:1935", Size: "small"}.Env()
	want := map[string]string{EnvChannelID: "c", EnvBroadcastID: "b", EnvGateway: "10.0.0.1:8080", EnvGatewayRTMP: "10.0.0.1:1935", EnvTaskSize: "small"}
	if len(env) != len(want) {
		t.Fatalf("%v", env)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := (Task{ChannelID: "c"}).Env()[EnvGatewayRTMP]; ok {
		t.Error("empty RTMP address passed")
	}
}
