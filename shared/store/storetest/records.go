package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/store"
)

// recording returns a complete recording of channel ch started at t.
func recording(id, ch, kind string, t time.Time) *store.Recording {
	end := t.Add(90 * time.Second)
	return &store.Recording{
		ID: id, ChannelID: ch, Kind: kind, Status: store.StatusComplete,
		BroadcastID: "b-" + ch, StartedAt: t, EndedAt: &end,
		DurationMillis: 90000, Bytes: 1234567,
		Prefix:    "rec/" + ch + "/" + id + "/",
		Keys:      []string{"rec/" + ch + "/" + id + "/000001.mp4", "rec/" + ch + "/" + id + "/000002.mp4"},
		Playlist:  "rec/" + ch + "/" + id + "/index.m3u8",
		Region:    "eu-west-1",
		UpdatedAt: end,
	}
}

func requireSameRecording(t *testing.T, want, got *store.Recording) {
	t.Helper()
	require.NotNil(t, got)
	norm := func(r *store.Recording) store.Recording {
		n := *r
		n.StartedAt, n.UpdatedAt = n.StartedAt.UTC(), n.UpdatedAt.UTC()
		if n.EndedAt != nil {
			n.EndedAt = ptr(n.EndedAt.UTC())
		}
		return n
	}
	require.Equal(t, norm(want), norm(got))
}

func recIDs(rs []*store.Recording) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func testRecordings(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	now := base()

	_, err := s.GetRecording(ctx, "r1")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.DeleteRecording(ctx, "r1"), store.ErrNotFound)

	// A recording is written while it grows, then once more when it ends.
	r := recording("r1", "ch", store.KindHLS, now)
	r.Status, r.EndedAt, r.DurationMillis = store.StatusRecording, nil, 2000
	require.NoError(t, s.PutRecording(ctx, r))
	got, err := s.GetRecording(ctx, "r1")
	require.NoError(t, err)
	requireSameRecording(t, r, got)

	final := recording("r1", "ch", store.KindHLS, now)
	require.NoError(t, s.PutRecording(ctx, final))
	got, err = s.GetRecording(ctx, "r1")
	require.NoError(t, err)
	requireSameRecording(t, final, got)

	// Copies: changing what was returned or given does not change the store.
	got.Keys[0] = "changed"
	final.Keys[1] = "changed too"
	again, err := s.GetRecording(ctx, "r1")
	require.NoError(t, err)
	require.Equal(t, recording("r1", "ch", store.KindHLS, now).Keys, again.Keys)

	// Replacing must not leave the old index entry behind.
	page, err := s.ListRecordings(ctx, store.RecordingQuery{ChannelID: "ch"})
	require.NoError(t, err)
	require.Equal(t, []string{"r1"}, recIDs(page.Recordings))
	moved := recording("r1", "ch", store.KindHLS, now.Add(time.Hour))
	require.NoError(t, s.PutRecording(ctx, moved))
	page, err = s.ListRecordings(ctx, store.RecordingQuery{})
	require.NoError(t, err)
	require.Equal(t, []string{"r1"}, recIDs(page.Recordings))

	require.NoError(t, s.DeleteRecording(ctx, "r1"))
	_, err = s.GetRecording(ctx, "r1")
	require.ErrorIs(t, err, store.ErrNotFound)
	page, err = s.ListRecordings(ctx, store.RecordingQuery{ChannelID: "ch"})
	require.NoError(t, err)
	require.Empty(t, page.Recordings)
	require.Empty(t, page.Next)
}

func testRecordingRefusals(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	now := base()
	mod := func(f func(r *store.Recording)) *store.Recording {
		r := recording("r1", "ch", store.KindMP4, now)
		f(r)
		return r
	}
	cases := []struct {
		name string
		r    *store.Recording
	}{
		{"nil", nil},
		{"empty id", mod(func(r *store.Recording) { r.ID = "" })},
		{"id with slash", mod(func(r *store.Recording) { r.ID = "../x" })},
		{"bad channel", mod(func(r *store.Recording) { r.ChannelID = "a b" })},
		{"bad kind", mod(func(r *store.Recording) { r.Kind = "avi" })},
		{"bad status", mod(func(r *store.Recording) { r.Status = "done" })},
		{"no start", mod(func(r *store.Recording) { r.StartedAt = time.Time{} })},
		{"ends before start", mod(func(r *store.Recording) { r.EndedAt = ptr(now.Add(-time.Second)) })},
		{"negative bytes", mod(func(r *store.Recording) { r.Bytes = -1 })},
		{"too many keys", mod(func(r *store.Recording) { r.Keys = make([]string, store.MaxRecordingKeys+1) })},
		{"empty key", mod(func(r *store.Recording) { r.Keys = []string{""} })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, s.PutRecording(ctx, tc.r), store.ErrInvalid)
		})
	}
	page, err := s.ListRecordings(ctx, store.RecordingQuery{})
	require.NoError(t, err)
	require.Empty(t, page.Recordings, "a refused recording must not be stored")
}

func testListRecordings(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	now := base()
	// 25 recordings of "a" one minute apart (every fifth a snapshot), 5 of "b" interleaved,
	// and two of "a" with the same start (ordered by id, descending).
	var wantA, wantAll []string
	for i := range 25 {
		kind := store.KindMP4
		if i%5 == 0 {
			kind = store.KindSnapshot
		}
		id := fmt.Sprintf("a%02d", i)
		require.NoError(t, s.PutRecording(ctx, recording(id, "a", kind, now.Add(time.Duration(i)*time.Minute))))
		if i < 5 {
			bid := fmt.Sprintf("b%02d", i)
			require.NoError(t, s.PutRecording(ctx, recording(bid, "b", store.KindMP4, now.Add(time.Duration(i)*time.Minute+30*time.Second))))
		}
	}
	require.NoError(t, s.PutRecording(ctx, recording("a99", "a", store.KindMP4, now.Add(-time.Hour))))
	require.NoError(t, s.PutRecording(ctx, recording("a98", "a", store.KindMP4, now.Add(-time.Hour))))
	for i := 24; i >= 0; i-- {
		wantA = append(wantA, fmt.Sprintf("a%02d", i))
		wantAll = append(wantAll, fmt.Sprintf("a%02d", i))
		if i < 5 {
			wantAll = append(wantAll[:len(wantAll)-1], fmt.Sprintf("b%02d", i), fmt.Sprintf("a%02d", i))
		}
	}
	wantA = append(wantA, "a99", "a98")
	wantAll = append(wantAll, "a99", "a98")

	collect := func(q store.RecordingQuery) (all []string, pages int) {
		t.Helper()
		for {
			p, err := s.ListRecordings(ctx, q)
			require.NoError(t, err)
			require.LessOrEqual(t, len(p.Recordings), q.EffectiveLimit())
			all = append(all, recIDs(p.Recordings)...)
			pages++
			if p.Next == "" {
				return all, pages
			}
			require.Len(t, p.Recordings, q.EffectiveLimit(), "only the last page may be short")
			q.Cursor = p.Next
			require.Less(t, pages, 100, "listing does not end")
		}
	}
	got, pages := collect(store.RecordingQuery{ChannelID: "a", Limit: 4})
	require.Equal(t, wantA, got)
	require.Equal(t, 7, pages)
	got, _ = collect(store.RecordingQuery{Limit: 7})
	require.Equal(t, wantAll, got)
	got, _ = collect(store.RecordingQuery{ChannelID: "b"})
	require.Equal(t, []string{"b04", "b03", "b02", "b01", "b00"}, got)
	got, _ = collect(store.RecordingQuery{ChannelID: "nobody"})
	require.Empty(t, got)

	got, _ = collect(store.RecordingQuery{ChannelID: "a", Kind: store.KindSnapshot, Limit: 2})
	require.Equal(t, []string{"a20", "a15", "a10", "a05", "a00"}, got)

	// Since is inclusive, Until exclusive.
	got, _ = collect(store.RecordingQuery{ChannelID: "a", Since: now.Add(10 * time.Minute), Until: now.Add(13 * time.Minute), Limit: 2})
	require.Equal(t, []string{"a12", "a11", "a10"}, got)
	got, _ = collect(store.RecordingQuery{Since: now.Add(3 * time.Minute), Until: now.Add(5 * time.Minute)})
	require.Equal(t, []string{"b04", "a04", "b03", "a03"}, got)

	for _, cursor := range []string{"x", "not base64 !", "AAAA", string(make([]byte, 600))} {
		_, err := s.ListRecordings(ctx, store.RecordingQuery{ChannelID: "a", Cursor: cursor})
		require.ErrorIs(t, err, store.ErrInvalidCursor, "cursor %q", cursor)
	}
}

func testAPIKeys(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	now := base()
	hash := func(secret string) string {
		h := sha256.Sum256([]byte(secret))
		return hex.EncodeToString(h[:])
	}
	k1 := store.APIKey{ID: "k1", Name: "CI", Hash: hash("s1"), Prefix: "lsk_ab", CreatedAt: now, ExpiresAt: ptr(now.Add(time.Hour))}
	k2 := store.APIKey{ID: "k2", Name: "deploy", Hash: hash("s2"), Prefix: "lsk_cd", CreatedAt: now}

	keys, err := s.ListAPIKeys(ctx)
	require.NoError(t, err)
	require.Empty(t, keys)
	require.NoError(t, s.CreateAPIKey(ctx, k2))
	require.NoError(t, s.CreateAPIKey(ctx, k1))
	require.ErrorIs(t, s.CreateAPIKey(ctx, k1), store.ErrExists)
	dupHash := k1
	dupHash.ID = "k3"
	require.ErrorIs(t, s.CreateAPIKey(ctx, dupHash), store.ErrExists, "two keys may not share a hash")

	got, err := s.APIKeyByHash(ctx, hash("s1"))
	require.NoError(t, err)
	require.Equal(t, "k1", got.ID)
	require.Equal(t, "CI", got.Name)
	require.True(t, got.ExpiresAt.Equal(*k1.ExpiresAt))
	_, err = s.APIKeyByHash(ctx, hash("nope"))
	require.ErrorIs(t, err, store.ErrNotFound)

	keys, err = s.ListAPIKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	require.Equal(t, "k1", keys[0].ID)
	require.Equal(t, "k2", keys[1].ID)

	require.NoError(t, s.DeleteAPIKey(ctx, "k1"))
	require.ErrorIs(t, s.DeleteAPIKey(ctx, "k1"), store.ErrNotFound)
	_, err = s.APIKeyByHash(ctx, hash("s1"))
	require.ErrorIs(t, err, store.ErrNotFound, "a deleted key must stop working")
	// Its hash is free again.
	require.NoError(t, s.CreateAPIKey(ctx, store.APIKey{ID: "k4", Hash: hash("s1"), CreatedAt: now}))

	for name, bad := range map[string]store.APIKey{
		"bad id":     {ID: "a/b", Hash: hash("x"), CreatedAt: now},
		"short hash": {ID: "k5", Hash: "abc", CreatedAt: now},
		"upper hash": {ID: "k5", Hash: "A" + hash("x")[1:], CreatedAt: now},
		"no time":    {ID: "k5", Hash: hash("x")},
	} {
		require.ErrorIs(t, s.CreateAPIKey(ctx, bad), store.ErrInvalid, name)
	}
}

func testConcurrentRecordings(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	now := base()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range Contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 3 {
				r := recording(fmt.Sprintf("r%02d-%d", i, j), "ch", store.KindMP4, now.Add(time.Duration(i*3+j)*time.Second))
				if err := s.PutRecording(ctx, r); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, failed.Load())
	page, err := s.ListRecordings(ctx, store.RecordingQuery{ChannelID: "ch", Limit: store.MaxListLimit})
	require.NoError(t, err)
	require.Len(t, page.Recordings, Contenders*3)
}

func canceledRecordingOps(ctx context.Context, s store.Store) map[string]func() error {
	now := base()
	return map[string]func() error{
		"PutRecording":    func() error { return s.PutRecording(ctx, recording("new", "ch", store.KindMP4, now)) },
		"GetRecording":    func() error { _, err := s.GetRecording(ctx, "r"); return err },
		"ListRecordings":  func() error { _, err := s.ListRecordings(ctx, store.RecordingQuery{}); return err },
		"DeleteRecording": func() error { return s.DeleteRecording(ctx, "r") },
		"CreateAPIKey": func() error {
			return s.CreateAPIKey(ctx, store.APIKey{ID: "new", Hash: fmt.Sprintf("%064x", 1), CreatedAt: now})
		},
		"APIKeyByHash": func() error { _, err := s.APIKeyByHash(ctx, fmt.Sprintf("%064x", 2)); return err },
		"ListAPIKeys":  func() error { _, err := s.ListAPIKeys(ctx); return err },
		"DeleteAPIKey": func() error { return s.DeleteAPIKey(ctx, "k") },
	}
}
