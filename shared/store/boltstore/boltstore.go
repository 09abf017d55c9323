// Package boltstore implements store.Store on go.etcd.io/bbolt: one file in the
// standalone build's data dir, JSON values, channels listed in id order by a
// bucket cursor. Publish sessions live in memory, under a mutex that makes
// AcquireSession atomic (see Store).
//
// Every write goes through bbolt's Batch: writes that arrive together (a
// thousand recordings starting, channels created in bulk through the API)
// share one transaction and one fsync instead of queueing
// for one each, which under heavy recording I/O (ext4 data=ordered makes each
// fsync flush everyone's dirty data) took seconds per write. Batch may run a
// write function twice (alone, after another in the batch failed); each one
// here only reads and writes inside its transaction, so that is harmless.
package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

var _ store.Store = (*Store)(nil)

// Bucket names.
var (
	bucketChannels = []byte("channels")
	// legacySessions held the publish sessions before they moved to memory.
	legacySessions = []byte("sessions")
	bucketSettings = []byte("settings")
)

// openTimeout is how long Open waits for another process holding the file.
const openTimeout = 2 * time.Second

// cursorPrefix versions the cursor format: base64url("c1:" + last id).
const cursorPrefix = "c1:"

// Store is a store.Store kept in one bbolt file, except the publish sessions.
type Store struct {
	db *bolt.DB
	// now is the clock that decides whether a session lease has ended.
	now func() time.Time

	// sessions are the live publish sessions by channel. They are kept in
	// memory, not in the file: only the process holding the file publishes
	// through it, so a session never outlives its process, and a lease a
	// crash left in the file would refuse the reconnecting publisher until
	// it ran out. It also keeps the disk off the publish path: authorizing
	// and renewing a publish wrote the file and waited for its fsync, which
	// took 1-3 s while a thousand recorders wrote to the same disk
	// (docs/performance.md, "Many publishers").
	mu       sync.Mutex
	sessions map[string]store.Session
	closed   bool // fails session calls after Close, as the file's calls do
}

// lockSessions locks the sessions; it fails when ctx has ended or the store
// is closed.
func (s *Store) lockSessions(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return bolterrors.ErrDatabaseNotOpen
	}
	return nil
}

// initialMmap is the file's first memory map: address space, not memory.
// bbolt maps the file again each time it outgrows its map (doubling from
// 32 KB), and a remap waits for every open read transaction and holds back
// every new one. A thousand publishers starting at once write their
// recordings while their authorizations read channels; readers descheduled on
// a loaded machine held a remap, and the remap held 430 authorizations for
// 1.2–2.8 s and 16 past the 10 s handshake timeout. With a 1 GB map the
// first remap comes at 1 GB of metadata.
const initialMmap = 1 << 30

// Open opens (creating if needed, with its parent directory) the database file
// at path. Only one process may hold the file; Open gives up after a short
// wait if another does.
func Open(path string) (*Store, error) {
	return open(path, openTimeout)
}

func open(path string, timeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, InitialMmapSize: initialMmap})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketChannels, bucketSettings, bucketRecordings, bucketRecByChannel, bucketRecByTime, bucketAPIKeys, bucketAPIKeyHashes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		// Files written before sessions moved to memory hold the last
		// process's leases: stale by definition.
		if err := tx.DeleteBucket(legacySessions); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return fmt.Errorf("drop bucket %s: %w", legacySessions, err)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &Store{db: db, now: time.Now, sessions: map[string]store.Session{}}, nil
}

// Close closes the database file; later calls do nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// CreateChannel implements store.Store.
func (s *Store) CreateChannel(ctx context.Context, c *channel.Channel) error {
	if err := s.checkChannel(ctx, c); err != nil {
		return fmt.Errorf("create channel: %w", err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChannels)
		if exists(b, []byte(c.ID)) {
			return store.ErrExists
		}
		return putJSON(b, []byte(c.ID), c)
	})
	if err != nil {
		return fmt.Errorf("create channel %s: %w", c.ID, err)
	}
	return nil
}

// GetChannel implements store.Store.
func (s *Store) GetChannel(ctx context.Context, id string) (*channel.Channel, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get channel %s: %w", id, err)
	}
	var c channel.Channel
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketChannels).Get([]byte(id))
		if v == nil || id == "" {
			return store.ErrNotFound
		}
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("decode channel: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get channel %s: %w", id, err)
	}
	return &c, nil
}

// UpdateChannel implements store.Store.
func (s *Store) UpdateChannel(ctx context.Context, c *channel.Channel) error {
	if err := s.checkChannel(ctx, c); err != nil {
		return fmt.Errorf("update channel: %w", err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChannels)
		if !exists(b, []byte(c.ID)) {
			return store.ErrNotFound
		}
		return putJSON(b, []byte(c.ID), c)
	})
	if err != nil {
		return fmt.Errorf("update channel %s: %w", c.ID, err)
	}
	return nil
}

// DeleteChannel implements store.Store.
func (s *Store) DeleteChannel(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete channel %s: %w", id, err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChannels)
		if id == "" || !exists(b, []byte(id)) {
			return store.ErrNotFound
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete channel %s: %w", id, err)
	}
	return nil
}

// ListChannels implements store.Store.
func (s *Store) ListChannels(ctx context.Context, opts store.ListOptions) (store.Page, error) {
	if err := ctx.Err(); err != nil {
		return store.Page{}, fmt.Errorf("list channels: %w", err)
	}
	after, err := decodeCursor(opts.Cursor)
	if err != nil {
		return store.Page{}, fmt.Errorf("list channels: %w", err)
	}
	limit := opts.EffectiveLimit()
	page := store.Page{Channels: []*channel.Channel{}}
	err = s.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketChannels).Cursor()
		var k, v []byte
		if after == "" {
			k, v = cur.First()
		} else {
			k, v = cur.Seek([]byte(after))
			if bytes.Equal(k, []byte(after)) {
				k, v = cur.Next()
			}
		}
		for ; k != nil; k, v = cur.Next() {
			if len(page.Channels) == limit {
				page.Next = encodeCursor(page.Channels[limit-1].ID)
				return nil
			}
			var c channel.Channel
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("decode channel %s: %w", k, err)
			}
			page.Channels = append(page.Channels, &c)
		}
		return nil
	})
	if err != nil {
		return store.Page{}, fmt.Errorf("list channels: %w", err)
	}
	return page, nil
}

// AcquireSession implements store.Store.
func (s *Store) AcquireSession(ctx context.Context, sess store.Session) error {
	if err := sess.Validate(); err != nil {
		return fmt.Errorf("acquire session: %w", err)
	}
	if err := s.lockSessions(ctx); err != nil {
		return fmt.Errorf("acquire session of channel %s: %w", sess.ChannelID, err)
	}
	defer s.mu.Unlock()
	if cur, ok := s.sessions[sess.ChannelID]; ok && cur.Active(s.now()) && cur.SessionID != sess.SessionID {
		return fmt.Errorf("acquire session of channel %s: %w: session %s on gateway %s until %s", sess.ChannelID, store.ErrLive,
			cur.SessionID, cur.Gateway, cur.ExpiresAt.UTC().Format(time.RFC3339))
	}
	s.sessions[sess.ChannelID] = sess
	return nil
}

// ReleaseSession implements store.Store.
func (s *Store) ReleaseSession(ctx context.Context, channelID, sessionID string) error {
	if err := s.lockSessions(ctx); err != nil {
		return fmt.Errorf("release session of channel %s: %w", channelID, err)
	}
	defer s.mu.Unlock()
	if cur, ok := s.sessions[channelID]; ok && cur.SessionID == sessionID {
		delete(s.sessions, channelID)
	}
	return nil
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, channelID string) (store.Session, error) {
	if err := s.lockSessions(ctx); err != nil {
		return store.Session{}, fmt.Errorf("get session of channel %s: %w", channelID, err)
	}
	defer s.mu.Unlock()
	sess, ok := s.sessions[channelID]
	if !ok || !sess.Active(s.now()) {
		return store.Session{}, fmt.Errorf("get session of channel %s: %w", channelID, store.ErrNotFound)
	}
	return sess, nil
}

// ListSessions implements store.Store. Expired sessions are left out and
// forgotten.
func (s *Store) ListSessions(ctx context.Context) ([]store.Session, error) {
	if err := s.lockSessions(ctx); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer s.mu.Unlock()
	now := s.now()
	sessions := make([]store.Session, 0, len(s.sessions))
	for id, sess := range s.sessions {
		if !sess.Active(now) {
			delete(s.sessions, id)
			continue
		}
		sessions = append(sessions, sess)
	}
	slices.SortFunc(sessions, func(a, b store.Session) int { return strings.Compare(a.ChannelID, b.ChannelID) })
	return sessions, nil
}

// GetSetting implements store.Store.
func (s *Store) GetSetting(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get setting %q: %w", key, err)
	}
	if err := store.ValidSettingKey(key); err != nil {
		return nil, fmt.Errorf("get setting: %w", err)
	}
	var value []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketSettings).Cursor().Seek([]byte(key))
		if !bytes.Equal(k, []byte(key)) {
			return store.ErrNotFound
		}
		value = bytes.Clone(v)
		if value == nil {
			value = []byte{}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get setting %q: %w", key, err)
	}
	return value, nil
}

// PutSetting implements store.Store.
func (s *Store) PutSetting(ctx context.Context, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	if err := store.ValidSettingKey(key); err != nil {
		return fmt.Errorf("put setting: %w", err)
	}
	if err := store.ValidSettingValue(value); err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		// bbolt keeps a reference to value until commit; give it its own copy.
		return tx.Bucket(bucketSettings).Put([]byte(key), append([]byte{}, value...))
	})
	if err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	return nil
}

func (s *Store) checkChannel(ctx context.Context, c *channel.Channel) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("%w: nil channel", store.ErrInvalid)
	}
	if !channel.ValidID(c.ID) {
		return fmt.Errorf("%w: channel id %q is not a valid channel id", store.ErrInvalid, c.ID)
	}
	return nil
}

func exists(b *bolt.Bucket, key []byte) bool {
	k, _ := b.Cursor().Seek(key)
	return bytes.Equal(k, key)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + lastID))
}

func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	// The longest valid cursor encodes the prefix and a 64-byte id.
	if len(cursor) > base64.RawURLEncoding.EncodedLen(len(cursorPrefix)+64) {
		return "", fmt.Errorf("%w: too long", store.ErrInvalidCursor)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", fmt.Errorf("%w: %w", store.ErrInvalidCursor, err)
	}
	id, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok || !channel.ValidID(id) {
		return "", store.ErrInvalidCursor
	}
	return id, nil
}
