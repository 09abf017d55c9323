package boltstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/storetest"
)

func TestWorkerTasksContract(t *testing.T) {
	storetest.RunWorkerTasks(t, func(t *testing.T) store.WorkerTasks {
		s := newTestStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestWorkerTasksExpire(t *testing.T) {
	s := newTestStore(t)
	defer s.Close()
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	old := store.WorkerTask{ChannelID: "a", BroadcastID: "old", State: store.TaskStopped, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateWorkerTask(ctx, old); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	if err := s.CreateWorkerTask(ctx, store.WorkerTask{ChannelID: "a", BroadcastID: "new", State: store.TaskStarting, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetWorkerTask(ctx, "a", "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired record: %v", err)
	}
	if _, err := s.GetWorkerTask(ctx, "a", "new"); err != nil {
		t.Fatal(err)
	}
}
