package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/livestack/livestack/shared/store"
)

// RunWorkerTasks is the contract suite of store.WorkerTasks. newStore must
// return a new, empty store each time.
func RunWorkerTasks(t *testing.T, newStore func(t *testing.T) store.WorkerTasks) {
	ctx := context.Background()
	sample := func(ch, b string) store.WorkerTask {
		return store.WorkerTask{
			ChannelID: ch, BroadcastID: b, State: store.TaskStarting, Gateway: "10.0.0.1:8080",
			Size: "small", Spot: true, UpdatedAt: base(), ExpiresAt: base().Add(7 * 24 * time.Hour),
		}
	}
	t.Run("CreateGetUpdate", func(t *testing.T) {
		s := newStore(t)
		want := sample("chan-a", "b1")
		if err := s.CreateWorkerTask(ctx, want); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateWorkerTask(ctx, want); !errors.Is(err, store.ErrExists) {
			t.Fatalf("second create: %v, want ErrExists", err)
		}
		got, err := s.GetWorkerTask(ctx, "chan-a", "b1")
		if err != nil {
			t.Fatal(err)
		}
		want.Version = 1
		if !got.UpdatedAt.Equal(want.UpdatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("times %v %v, want %v %v", got.UpdatedAt, got.ExpiresAt, want.UpdatedAt, want.ExpiresAt)
		}
		got.UpdatedAt, got.ExpiresAt = want.UpdatedAt, want.ExpiresAt
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		got.State, got.Handle, got.Starts = store.TaskRunning, "arn:aws:ecs:eu-west-1:1:task/c/abc", 1
		if err := s.UpdateWorkerTask(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, err := s.GetWorkerTask(ctx, "chan-a", "b1")
		if err != nil {
			t.Fatal(err)
		}
		if again.Version != 2 || again.State != store.TaskRunning || again.Handle != got.Handle || again.Starts != 1 {
			t.Fatalf("after update %+v", again)
		}
		// got still has version 1: a stale writer loses.
		got.State = store.TaskStopped
		if err := s.UpdateWorkerTask(ctx, got); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale update: %v, want ErrConflict", err)
		}
		if _, err := s.GetWorkerTask(ctx, "chan-a", "b2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other broadcast: %v, want ErrNotFound", err)
		}
		if _, err := s.GetWorkerTask(ctx, "chan-b", "b1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other channel: %v, want ErrNotFound", err)
		}
		missing := sample("chan-c", "b1")
		missing.Version = 1
		if err := s.UpdateWorkerTask(ctx, missing); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of a missing record: %v, want ErrNotFound", err)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		s := newStore(t)
		for name, wt := range map[string]store.WorkerTask{
			"bad channel":     sample("../x", "b"),
			"empty broadcast": sample("chan-a", ""),
			"bad state":       func() store.WorkerTask { w := sample("chan-a", "b"); w.State = "dancing"; return w }(),
		} {
			if err := s.CreateWorkerTask(ctx, wt); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
	})
	t.Run("ConcurrentUpdatesOneWins", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateWorkerTask(ctx, sample("chan-r", "b")); err != nil {
			t.Fatal(err)
		}
		cur, err := s.GetWorkerTask(ctx, "chan-r", "b")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts := 0, 0
		for i := 0; i < Contenders; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				u := cur
				u.State, u.Handle = store.TaskRunning, "task-"+string(rune('a'+i))
				err := s.UpdateWorkerTask(ctx, u)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrConflict):
					conflicts++
				default:
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		if wins != 1 || conflicts != Contenders-1 {
			t.Fatalf("%d wins, %d conflicts; want 1 and %d", wins, conflicts, Contenders-1)
		}
	})
}
