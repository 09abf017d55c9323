package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/livestack/livestack/shared/store"
)

// Buckets of recordings and API keys.
//
//	recordings     id -> Recording JSON
//	recByChannel   channelID 0x00 startedAt(8 bytes, big-endian ns) id -> nil
//	recByTime      startedAt(8 bytes) id -> nil
//	apikeys        id -> APIKey JSON
//	apikeyHashes   hash -> id
var (
	bucketRecordings   = []byte("recordings")
	bucketRecByChannel = []byte("recByChannel")
	bucketRecByTime    = []byte("recByTime")
	bucketAPIKeys      = []byte("apikeys")
	bucketAPIKeyHashes = []byte("apikeyHashes")
)

// recCursorPrefix versions recording cursors: base64url("r1:" + index key).
const recCursorPrefix = "r1:"

func timeKey(r *store.Recording) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(r.StartedAt.UnixNano()))
	return b[:]
}

func channelIndexKey(r *store.Recording) []byte {
	k := append([]byte(r.ChannelID), 0)
	k = append(k, timeKey(r)...)
	return append(k, r.ID...)
}

func timeIndexKey(r *store.Recording) []byte {
	return append(timeKey(r), r.ID...)
}

// PutRecording implements store.Recordings.
func (s *Store) PutRecording(ctx context.Context, r *store.Recording) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put recording: %w", err)
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("put recording: %w", err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecordings)
		if old := recs.Get([]byte(r.ID)); old != nil {
			var prev store.Recording
			if err := json.Unmarshal(old, &prev); err != nil {
				return fmt.Errorf("decode recording: %w", err)
			}
			if err := deleteRecordingIndex(tx, &prev); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketRecByChannel).Put(channelIndexKey(r), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRecByTime).Put(timeIndexKey(r), nil); err != nil {
			return err
		}
		return putJSON(recs, []byte(r.ID), r)
	})
	if err != nil {
		return fmt.Errorf("put recording %s: %w", r.ID, err)
	}
	return nil
}

func deleteRecordingIndex(tx *bolt.Tx, r *store.Recording) error {
	if err := tx.Bucket(bucketRecByChannel).Delete(channelIndexKey(r)); err != nil {
		return err
	}
	return tx.Bucket(bucketRecByTime).Delete(timeIndexKey(r))
}

// GetRecording implements store.Recordings.
func (s *Store) GetRecording(ctx context.Context, id string) (*store.Recording, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get recording %s: %w", id, err)
	}
	var r store.Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRecordings).Get([]byte(id))
		if v == nil || id == "" {
			return store.ErrNotFound
		}
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return nil, fmt.Errorf("get recording %s: %w", id, err)
	}
	return &r, nil
}

// DeleteRecording implements store.Recordings.
func (s *Store) DeleteRecording(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete recording %s: %w", id, err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecordings)
		v := recs.Get([]byte(id))
		if v == nil || id == "" {
			return store.ErrNotFound
		}
		var r store.Recording
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode recording: %w", err)
		}
		if err := deleteRecordingIndex(tx, &r); err != nil {
			return err
		}
		return recs.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete recording %s: %w", id, err)
	}
	return nil
}

// ListRecordings implements store.Recordings. It walks an index backwards
// (newest first) from the cursor, or from the end of the queried range.
func (s *Store) ListRecordings(ctx context.Context, q store.RecordingQuery) (store.RecordingPage, error) {
	if err := ctx.Err(); err != nil {
		return store.RecordingPage{}, fmt.Errorf("list recordings: %w", err)
	}
	var prefix []byte
	bucket := bucketRecByTime
	if q.ChannelID != "" {
		prefix = append([]byte(q.ChannelID), 0)
		bucket = bucketRecByChannel
	}
	after, err := decodeRecCursor(q.Cursor, prefix)
	if err != nil {
		return store.RecordingPage{}, fmt.Errorf("list recordings: %w", err)
	}
	limit := q.EffectiveLimit()
	page := store.RecordingPage{Recordings: []*store.Recording{}}
	err = s.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucket).Cursor()
		recs := tx.Bucket(bucketRecordings)
		// Position on the first key to return, walking backwards.
		var k []byte
		switch {
		case after != nil:
			k, _ = cur.Seek(after)
			if k == nil {
				k, _ = cur.Last()
			}
			for k != nil && bytes.Compare(k, after) >= 0 {
				k, _ = cur.Prev()
			}
		default:
			// Seek past the end of the range: prefix + (Until or max time).
			end := append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
			if !q.Until.IsZero() {
				var b [8]byte
				binary.BigEndian.PutUint64(b[:], uint64(q.Until.UnixNano()))
				end = append(bytes.Clone(prefix), b[:]...)
			}
			k, _ = cur.Seek(end)
			if k == nil {
				k, _ = cur.Last()
			}
			for k != nil && bytes.Compare(k, end) >= 0 {
				k, _ = cur.Prev()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Prev() {
			rest := k[len(prefix):]
			if len(rest) < 8 {
				continue
			}
			started := int64(binary.BigEndian.Uint64(rest[:8]))
			if !q.Since.IsZero() && started < q.Since.UnixNano() {
				break
			}
			if !q.Until.IsZero() && started >= q.Until.UnixNano() {
				continue
			}
			v := recs.Get(rest[8:])
			if v == nil {
				continue
			}
			var r store.Recording
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode recording %s: %w", rest[8:], err)
			}
			if q.Kind != "" && r.Kind != q.Kind {
				continue
			}
			if len(page.Recordings) == limit {
				last := page.Recordings[limit-1]
				var lk []byte
				if q.ChannelID != "" {
					lk = channelIndexKey(last)
				} else {
					lk = timeIndexKey(last)
				}
				page.Next = base64.RawURLEncoding.EncodeToString(append([]byte(recCursorPrefix), lk...))
				return nil
			}
			page.Recordings = append(page.Recordings, &r)
		}
		return nil
	})
	if err != nil {
		return store.RecordingPage{}, fmt.Errorf("list recordings: %w", err)
	}
	return page, nil
}

func decodeRecCursor(cursor string, prefix []byte) ([]byte, error) {
	if cursor == "" {
		return nil, nil
	}
	if len(cursor) > 256 {
		return nil, fmt.Errorf("%w: too long", store.ErrInvalidCursor)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalidCursor, err)
	}
	k, ok := bytes.CutPrefix(raw, []byte(recCursorPrefix))
	if !ok || !bytes.HasPrefix(k, prefix) || len(k) < len(prefix)+9 {
		return nil, store.ErrInvalidCursor
	}
	if prefix == nil && bytes.IndexByte(k[8:], 0) >= 0 {
		// A channel cursor used without the channel.
		return nil, store.ErrInvalidCursor
	}
	return k, nil
}

// CreateAPIKey implements store.APIKeys.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	if err := k.Validate(); err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		keys, hashes := tx.Bucket(bucketAPIKeys), tx.Bucket(bucketAPIKeyHashes)
		if keys.Get([]byte(k.ID)) != nil || hashes.Get([]byte(k.Hash)) != nil {
			return store.ErrExists
		}
		if err := hashes.Put([]byte(k.Hash), []byte(k.ID)); err != nil {
			return err
		}
		return putJSON(keys, []byte(k.ID), k)
	})
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	return nil
}

// APIKeyByHash implements store.APIKeys.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (store.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return store.APIKey{}, fmt.Errorf("api key by hash: %w", err)
	}
	var k store.APIKey
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketAPIKeyHashes).Get([]byte(hash))
		if id == nil || hash == "" {
			return store.ErrNotFound
		}
		v := tx.Bucket(bucketAPIKeys).Get(id)
		if v == nil {
			return store.ErrNotFound
		}
		return json.Unmarshal(v, &k)
	})
	if err != nil {
		return store.APIKey{}, fmt.Errorf("api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys implements store.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out := []store.APIKey{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAPIKeys).ForEach(func(id, v []byte) error {
			var k store.APIKey
			if err := json.Unmarshal(v, &k); err != nil {
				return fmt.Errorf("decode api key %s: %w", id, err)
			}
			out = append(out, k)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// DeleteAPIKey implements store.APIKeys.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete api key %s: %w", id, err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		keys := tx.Bucket(bucketAPIKeys)
		v := keys.Get([]byte(id))
		if v == nil || strings.TrimSpace(id) == "" {
			return store.ErrNotFound
		}
		var k store.APIKey
		if err := json.Unmarshal(v, &k); err != nil {
			return fmt.Errorf("decode api key: %w", err)
		}
		if err := tx.Bucket(bucketAPIKeyHashes).Delete([]byte(k.Hash)); err != nil {
			return err
		}
		return keys.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete api key %s: %w", id, err)
	}
	return nil
}
