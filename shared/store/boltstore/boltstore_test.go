package boltstore

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/storetest"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "data", "livestack.db"))
	require.NoError(t, err)
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newTestStore(t) })
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "livestack.db")
	s, err := Open(path)
	require.NoError(t, err)
	require.NoError(t, s.CreateChannel(ctx, &channel.Channel{ID: "kept", Name: "kept"}))
	require.NoError(t, s.PutSetting(ctx, "k", []byte("v")))
	require.NoError(t, s.Close())

	s, err = Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	c, err := s.GetChannel(ctx, "kept")
	require.NoError(t, err)
	require.Equal(t, "kept", c.Name)
	v, err := s.GetSetting(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)

	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestOpenRefusals(t *testing.T) {
	dir := t.TempDir()
	held, err := Open(filepath.Join(dir, "held.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, held.Close()) })
	notDB := filepath.Join(dir, "not-a-db")
	require.NoError(t, os.WriteFile(notDB, []byte("this is not a bbolt file, just some text"), 0o600))
	fileAsDir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(fileAsDir, nil, 0o600))

	cases := []struct{ name, path string }{
		{"directory", dir},
		{"held by another opener", filepath.Join(dir, "held.db")},
		{"not a database", notDB},
		{"parent is a file", filepath.Join(fileAsDir, "x.db")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := open(tc.path, 50*time.Millisecond)
			require.Error(t, err)
			require.Nil(t, s)
			require.Contains(t, err.Error(), tc.path)
		})
	}
}

// TestSessionLeaseClock moves the store's clock instead of sleeping.
func TestSessionLeaseClock(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }

	held := store.Session{ChannelID: "ch", SessionID: "a", Gateway: "gw-a:8080", StartedAt: now, ExpiresAt: now.Add(30 * time.Second)}
	taker := store.Session{ChannelID: "ch", SessionID: "b", Gateway: "gw-b:8080", StartedAt: now, ExpiresAt: now.Add(time.Hour)}
	require.NoError(t, s.AcquireSession(ctx, held))

	now = now.Add(29 * time.Second)
	require.ErrorIs(t, s.AcquireSession(ctx, taker), store.ErrLive)
	list, err := s.ListSessions(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)

	now = now.Add(time.Second) // the lease ends exactly at ExpiresAt
	_, err = s.GetSession(ctx, "ch")
	require.ErrorIs(t, err, store.ErrNotFound)
	list, err = s.ListSessions(ctx)
	require.NoError(t, err)
	require.Empty(t, list)
	require.NoError(t, s.AcquireSession(ctx, taker))
	got, err := s.GetSession(ctx, "ch")
	require.NoError(t, err)
	require.Equal(t, "b", got.SessionID)
}

// TestCorruptValues checks that undecodable records give errors, not panics.
func TestCorruptValues(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChannels).Put([]byte("bad"), []byte("{not json"))
	}))

	cases := []struct {
		name string
		op   func() error
	}{
		{"GetChannel", func() error { _, err := s.GetChannel(ctx, "bad"); return err }},
		{"ListChannels", func() error { _, err := s.ListChannels(ctx, store.ListOptions{}); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			require.Error(t, err)
			require.Contains(t, err.Error(), "bad")
			require.Contains(t, err.Error(), "decode")
		})
	}
	// Overwriting the broken channel still works.
	require.NoError(t, s.UpdateChannel(ctx, &channel.Channel{ID: "bad"}))
	_, err := s.GetChannel(ctx, "bad")
	require.NoError(t, err)
}

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []string{"a", "A-_9", strings.Repeat("z", 64)} {
		got, err := decodeCursor(encodeCursor(id))
		require.NoError(t, err)
		require.Equal(t, id, got)
	}
	_, err := decodeCursor(base64.RawURLEncoding.EncodeToString([]byte("c1:../x")))
	require.ErrorIs(t, err, store.ErrInvalidCursor)
	_, err = decodeCursor(base64.RawURLEncoding.EncodeToString([]byte("c2:a")))
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

// Sessions belong to the process holding the file: a reopened store (the
// standalone restarted after a crash) has none, so a reconnecting publisher
// is not refused by its own dead lease, and a file from before sessions moved
// to memory loses its stale bucket.
func TestSessionsDoNotOutliveTheProcess(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "livestack.db")
	s, err := Open(path)
	require.NoError(t, err)
	now := time.Now()
	held := store.Session{ChannelID: "ch", SessionID: "a", Gateway: "gw:8080", StartedAt: now, ExpiresAt: now.Add(time.Minute)}
	require.NoError(t, s.AcquireSession(ctx, held))
	require.NoError(t, s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(legacySessions)
		if err != nil {
			return err
		}
		return b.Put([]byte("ch"), []byte(`{"channelId":"ch","sessionId":"a"}`))
	}))
	require.NoError(t, s.Close())

	s, err = Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	_, err = s.GetSession(ctx, "ch")
	require.ErrorIs(t, err, store.ErrNotFound)
	retry := held
	retry.SessionID = "b"
	require.NoError(t, s.AcquireSession(ctx, retry))
	require.NoError(t, s.db.View(func(tx *bolt.Tx) error {
		require.Nil(t, tx.Bucket(legacySessions))
		return nil
	}))
}

// The file grows by megabytes while a read transaction stays open (an
// authorization descheduled on a loaded machine) without the write waiting
// for it: no remap is needed below the initial map.
func TestGrowthDoesNotWaitForReaders(t *testing.T) {
	s := newTestStore(t)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	tx, err := s.db.Begin(false)
	require.NoError(t, err)
	rolledBack := false
	defer func() {
		if !rolledBack {
			_ = tx.Rollback() // a remap waiting for it can finish, and Close too
		}
	}()
	done := make(chan error, 1)
	go func() {
		// 8 MB: far past the 32 KB-and-doubling maps bbolt starts with.
		done <- s.db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("growth-test"))
			if err != nil {
				return err
			}
			for i := range 8 {
				if err := b.Put([]byte(fmt.Sprint(i)), make([]byte, 1<<20)); err != nil {
					return err
				}
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the write waited for the open read transaction (the file was remapped)")
	}
	rolledBack = true
	require.NoError(t, tx.Rollback())
}
