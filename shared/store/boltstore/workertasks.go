package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/livestack/livestack/shared/store"
)

var _ store.WorkerTasks = (*Store)(nil)

var bucketWorkerTasks = []byte("workertasks")

func workerTaskKey(channelID, broadcastID string) []byte {
	return []byte(channelID + "\x00" + broadcastID)
}

// CreateWorkerTask implements store.WorkerTasks.
func (s *Store) CreateWorkerTask(ctx context.Context, t store.WorkerTask) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create worker task: %w", err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("create worker task: %w", err)
	}
	t.Version = 1
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketWorkerTasks)
		if err != nil {
			return err
		}
		if err := pruneWorkerTasks(b, s.now()); err != nil {
			return err
		}
		k := workerTaskKey(t.ChannelID, t.BroadcastID)
		if exists(b, k) {
			return store.ErrExists
		}
		return putJSON(b, k, t)
	})
	if err != nil {
		return fmt.Errorf("create worker task %s/%s: %w", t.ChannelID, t.BroadcastID, err)
	}
	return nil
}

// GetWorkerTask implements store.WorkerTasks.
func (s *Store) GetWorkerTask(ctx context.Context, channelID, broadcastID string) (store.WorkerTask, error) {
	var t store.WorkerTask
	if err := ctx.Err(); err != nil {
		return t, fmt.Errorf("get worker task: %w", err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWorkerTasks)
		if b == nil {
			return store.ErrNotFound
		}
		v := b.Get(workerTaskKey(channelID, broadcastID))
		if v == nil {
			return store.ErrNotFound
		}
		return json.Unmarshal(v, &t)
	})
	if err != nil {
		return store.WorkerTask{}, fmt.Errorf("get worker task %s/%s: %w", channelID, broadcastID, err)
	}
	return t, nil
}

// UpdateWorkerTask implements store.WorkerTasks.
func (s *Store) UpdateWorkerTask(ctx context.Context, t store.WorkerTask) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update worker task: %w", err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("update worker task: %w", err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWorkerTasks)
		if b == nil {
			return store.ErrNotFound
		}
		k := workerTaskKey(t.ChannelID, t.BroadcastID)
		v := b.Get(k)
		if v == nil {
			return store.ErrNotFound
		}
		var cur store.WorkerTask
		if err := json.Unmarshal(v, &cur); err != nil {
			return err
		}
		if cur.Version != t.Version {
			return fmt.Errorf("%w: version %d, stored %d", store.ErrConflict, t.Version, cur.Version)
		}
		next := t // t stays as given: Batch may run this function twice
		next.Version++
		return putJSON(b, k, next)
	})
	if err != nil {
		return fmt.Errorf("update worker task %s/%s: %w", t.ChannelID, t.BroadcastID, err)
	}
	return nil
}

// pruneWorkerTasks deletes records past their ExpiresAt, the embedded
// store's equivalent of the DynamoDB TTL; it runs on each create, and the
// records are few (one per broadcast that needed a worker, kept a week).
func pruneWorkerTasks(b *bolt.Bucket, now time.Time) error {
	var expired [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var t store.WorkerTask
		if json.Unmarshal(v, &t) == nil && !t.ExpiresAt.IsZero() && t.ExpiresAt.Before(now) {
			expired = append(expired, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
