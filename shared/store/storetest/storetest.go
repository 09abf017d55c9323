// Package storetest is the contract suite every store.Store implementation
// must pass. An implementation's test calls Run with a constructor for empty
// stores; the suite only uses the store.Store interface, so the embedded and
// the DynamoDB implementations are held to exactly the same behaviour.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// Contenders is how many goroutines race in the concurrency tests.
const Contenders = 20

// Run runs the contract suite. newStore must return a new, empty store each
// time it is called; Run closes every store it gets.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	open := func(t *testing.T) store.Store {
		t.Helper()
		s := newStore(t)
		require.NotNil(t, s, "newStore returned nil")
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
		return s
	}
	suites := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"Channels", testChannels},
		{"ChannelRefusals", testChannelRefusals},
		{"ChannelCopies", testChannelCopies},
		{"ConcurrentCreateChannel", testConcurrentCreate},
		{"ListChannels", testListChannels},
		{"ListChannelsOrder", testListOrder},
		{"ListChannelsCursorAfterChanges", testCursorAfterChanges},
		{"ListChannelsBadCursor", testBadCursor},
		{"Sessions", testSessions},
		{"SessionRefusals", testSessionRefusals},
		{"SessionExpiry", testSessionExpiry},
		{"ReleaseSession", testReleaseSession},
		{"ListSessions", testListSessions},
		{"ConcurrentAcquireSession", testConcurrentAcquire},
		{"Settings", testSettings},
		{"SettingRefusals", testSettingRefusals},
		{"Recordings", testRecordings},
		{"RecordingRefusals", testRecordingRefusals},
		{"ListRecordings", testListRecordings},
		{"ConcurrentRecordings", testConcurrentRecordings},
		{"APIKeys", testAPIKeys},
		{"CanceledContext", testCanceledContext},
		{"Close", testClose},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, open) })
	}
}

// base is a whole second, so implementations storing seconds keep it exactly.
func base() time.Time { return time.Now().UTC().Truncate(time.Second) }

func ptr[T any](v T) *T { return &v }

// sampleChannel fills every field, including pointers to zero values, whose
// presence must survive a round trip.
func sampleChannel(id string) *channel.Channel {
	created := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	c := &channel.Channel{
		ID:          id,
		Name:        "Channel " + id,
		Description: "直播 <b>&\"quoted\"",
		ExpiresAt:   ptr(created.Add(90 * 24 * time.Hour)),
		Enabled:     true,
		Outputs: channel.Outputs{
			FLV: ptr(false), HLS: ptr(true), CMAF: true,
			HLSSegmentSeconds: 4, HLSListSize: 5,
		},
		Recording: channel.Recording{
			MP4: true, MP4SegmentSeconds: 300, HLSVOD: true, Snapshots: true, SnapshotSeconds: 5,
			Motion: channel.Motion{Enabled: true, DurationMillis: 2000, Percent: 20, TimeoutSeconds: 30, Diff: 12},
		},
		Transcode: channel.Transcode{Enabled: true, Codec: "libx265", Renditions: []string{"360p", "720p"}},
		Watermark: channel.Watermark{
			Text:  &channel.TextWatermark{Text: "live", FontSize: 24, Color: "#ffffff80", Top: 10, Left: 20},
			Image: &channel.ImageWatermark{URL: "https://example.com/logo.png", Width: 64, Height: 32},
		},
		Relay:     []channel.Relay{{URL: "rtmp://a.rtmp.youtube.com/live2/key"}},
		PlayAuth:  true,
		Delivery:  channel.Delivery{MergeWindowMillis: ptr(0)},
		CreatedAt: created,
		UpdatedAt: created.Add(time.Hour),
	}
	return c
}

// requireSameChannel compares channels with times compared as instants.
func requireSameChannel(t *testing.T, want, got *channel.Channel) {
	t.Helper()
	require.NotNil(t, got)
	norm := func(c *channel.Channel) channel.Channel {
		n := *c
		n.CreatedAt = n.CreatedAt.UTC()
		n.UpdatedAt = n.UpdatedAt.UTC()
		if n.ExpiresAt != nil {
			n.ExpiresAt = ptr(n.ExpiresAt.UTC())
		}
		return n
	}
	require.Equal(t, norm(want), norm(got))
}

func requireSameSession(t *testing.T, want, got store.Session) {
	t.Helper()
	want.StartedAt, want.ExpiresAt = want.StartedAt.UTC(), want.ExpiresAt.UTC()
	got.StartedAt, got.ExpiresAt = got.StartedAt.UTC(), got.ExpiresAt.UTC()
	require.Equal(t, want, got)
}

func ids(cs []*channel.Channel) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testChannels(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)

	_, err := s.GetChannel(ctx, "a")
	require.ErrorIs(t, err, store.ErrNotFound)

	a := sampleChannel("a")
	require.NoError(t, s.CreateChannel(ctx, a))
	got, err := s.GetChannel(ctx, "a")
	require.NoError(t, err)
	requireSameChannel(t, a, got)

	// A minimal channel keeps its nil pointers and zero values.
	minimal := &channel.Channel{ID: "m"}
	require.NoError(t, s.CreateChannel(ctx, minimal))
	got, err = s.GetChannel(ctx, "m")
	require.NoError(t, err)
	require.Nil(t, got.ExpiresAt)
	require.Nil(t, got.Outputs.FLV)
	require.Nil(t, got.Delivery.MergeWindowMillis)
	require.Nil(t, got.Watermark.Text)
	require.True(t, got.Outputs.FLVEnabled())
	require.Equal(t, "m", got.ID)

	updated := sampleChannel("a")
	updated.Name = "renamed"
	updated.Enabled = false
	updated.Outputs.FLV = nil
	updated.Relay = nil
	updated.UpdatedAt = updated.UpdatedAt.Add(time.Minute)
	require.NoError(t, s.UpdateChannel(ctx, updated))
	got, err = s.GetChannel(ctx, "a")
	require.NoError(t, err)
	requireSameChannel(t, updated, got)

	require.NoError(t, s.DeleteChannel(ctx, "a"))
	_, err = s.GetChannel(ctx, "a")
	require.ErrorIs(t, err, store.ErrNotFound)
	got, err = s.GetChannel(ctx, "m")
	require.NoError(t, err, "deleting one channel must leave the others")
	require.Equal(t, "m", got.ID)

	// The id is free again after a delete.
	require.NoError(t, s.CreateChannel(ctx, sampleChannel("a")))
}

func testChannelRefusals(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	original := sampleChannel("taken")
	require.NoError(t, s.CreateChannel(ctx, original))

	cases := []struct {
		name string
		op   func() error
		want error
	}{
		{"create duplicate id", func() error { return s.CreateChannel(ctx, &channel.Channel{ID: "taken", Name: "other"}) }, store.ErrExists},
		{"create empty id", func() error { return s.CreateChannel(ctx, &channel.Channel{}) }, store.ErrInvalid},
		{"create path traversal id", func() error { return s.CreateChannel(ctx, &channel.Channel{ID: "../x"}) }, store.ErrInvalid},
		{"create id with slash", func() error { return s.CreateChannel(ctx, &channel.Channel{ID: "a/b"}) }, store.ErrInvalid},
		{"create id too long", func() error { return s.CreateChannel(ctx, &channel.Channel{ID: strings.Repeat("a", 65)}) }, store.ErrInvalid},
		{"create nil channel", func() error { return s.CreateChannel(ctx, nil) }, store.ErrInvalid},
		{"get missing", func() error { _, err := s.GetChannel(ctx, "missing"); return err }, store.ErrNotFound},
		{"get empty id", func() error { _, err := s.GetChannel(ctx, ""); return err }, store.ErrNotFound},
		{"get hostile id", func() error { _, err := s.GetChannel(ctx, "../../etc/passwd\x00"); return err }, store.ErrNotFound},
		{"update missing", func() error { return s.UpdateChannel(ctx, sampleChannel("missing")) }, store.ErrNotFound},
		{"update nil channel", func() error { return s.UpdateChannel(ctx, nil) }, store.ErrInvalid},
		{"update invalid id", func() error { return s.UpdateChannel(ctx, &channel.Channel{ID: "a b"}) }, store.ErrInvalid},
		{"delete missing", func() error { return s.DeleteChannel(ctx, "missing") }, store.ErrNotFound},
		{"delete empty id", func() error { return s.DeleteChannel(ctx, "") }, store.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			require.ErrorIs(t, err, tc.want)
			require.NotEqual(t, tc.want.Error(), err.Error(), "errors must be wrapped with context")
		})
	}

	// Refusals changed nothing.
	got, err := s.GetChannel(ctx, "taken")
	require.NoError(t, err)
	requireSameChannel(t, original, got)
	_, err = s.GetChannel(ctx, "missing")
	require.ErrorIs(t, err, store.ErrNotFound, "update of a missing channel must not create it")
	page, err := s.ListChannels(ctx, store.ListOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"taken"}, ids(page.Channels))
}

func testChannelCopies(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	in := sampleChannel("c")
	require.NoError(t, s.CreateChannel(ctx, in))
	in.Name = "changed after create"
	in.Transcode.Renditions[0] = "1080p"

	got, err := s.GetChannel(ctx, "c")
	require.NoError(t, err)
	requireSameChannel(t, sampleChannel("c"), got)

	got.Name = "changed after get"
	got.Relay[0].URL = "rtmp://changed/x"
	again, err := s.GetChannel(ctx, "c")
	require.NoError(t, err)
	requireSameChannel(t, sampleChannel("c"), again)

	page, err := s.ListChannels(ctx, store.ListOptions{})
	require.NoError(t, err)
	require.Len(t, page.Channels, 1)
	page.Channels[0].Name = "changed after list"
	again, err = s.GetChannel(ctx, "c")
	require.NoError(t, err)
	requireSameChannel(t, sampleChannel("c"), again)
}

func testConcurrentCreate(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	errs := make([]error, Contenders)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range Contenders {
		wg.Go(func() {
			<-start
			c := sampleChannel("race")
			c.Name = fmt.Sprintf("contender %d", i)
			errs[i] = s.CreateChannel(ctx, c)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "contenders %d and %d both created the channel", winner, i)
			winner = i
			continue
		}
		require.ErrorIs(t, err, store.ErrExists)
	}
	require.NotEqual(t, -1, winner, "no contender created the channel")
	got, err := s.GetChannel(ctx, "race")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("contender %d", winner), got.Name)
}

// listAll walks every page, checking the page-size rules on the way.
func listAll(t *testing.T, s store.Store, limit int) (all []string, pages int) {
	t.Helper()
	ctx := t.Context()
	effective := store.ListOptions{Limit: limit}.EffectiveLimit()
	cursor := ""
	for {
		page, err := s.ListChannels(ctx, store.ListOptions{Limit: limit, Cursor: cursor})
		require.NoError(t, err)
		pages++
		require.LessOrEqual(t, len(page.Channels), effective)
		if page.Next == "" {
			all = append(all, ids(page.Channels)...)
			return all, pages
		}
		require.Len(t, page.Channels, effective, "only the last page may be short")
		require.NotEqual(t, cursor, page.Next, "cursor did not advance")
		all = append(all, ids(page.Channels)...)
		cursor = page.Next
		require.Less(t, pages, 10_000, "pagination does not end")
	}
}

func testListChannels(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("empty store", func(t *testing.T) {
		s := open(t)
		page, err := s.ListChannels(t.Context(), store.ListOptions{Limit: 10})
		require.NoError(t, err)
		require.Empty(t, page.Channels)
		require.Empty(t, page.Next)
	})

	s := open(t)
	ctx := t.Context()
	want := []string{"ch1", "ch2", "ch3", "ch4", "ch5", "ch6"}
	for _, i := range []int{3, 0, 5, 1, 4, 2} { // inserted out of order
		require.NoError(t, s.CreateChannel(ctx, sampleChannel(want[i])))
	}

	cases := []struct {
		limit     int
		wantPages int
	}{
		{limit: 1, wantPages: 6},
		{limit: 2, wantPages: 3},
		{limit: 4, wantPages: 2},
		{limit: 5, wantPages: 2},
		{limit: 6, wantPages: 1},
		{limit: 100, wantPages: 1},
		{limit: 0, wantPages: 1},
		{limit: -1, wantPages: 1},
		{limit: store.MaxListLimit + 1, wantPages: 1},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("limit %d", tc.limit), func(t *testing.T) {
			got, pages := listAll(t, s, tc.limit)
			require.Equal(t, want, got)
			require.Equal(t, tc.wantPages, pages)
		})
	}

	t.Run("pages hold whole channels", func(t *testing.T) {
		page, err := s.ListChannels(ctx, store.ListOptions{Limit: 2})
		require.NoError(t, err)
		require.Len(t, page.Channels, 2)
		requireSameChannel(t, sampleChannel("ch1"), page.Channels[0])
		requireSameChannel(t, sampleChannel("ch2"), page.Channels[1])
	})

	t.Run("cursor is reusable", func(t *testing.T) {
		first, err := s.ListChannels(ctx, store.ListOptions{Limit: 2})
		require.NoError(t, err)
		a, err := s.ListChannels(ctx, store.ListOptions{Limit: 2, Cursor: first.Next})
		require.NoError(t, err)
		b, err := s.ListChannels(ctx, store.ListOptions{Limit: 2, Cursor: first.Next})
		require.NoError(t, err)
		require.Equal(t, []string{"ch3", "ch4"}, ids(a.Channels))
		require.Equal(t, ids(a.Channels), ids(b.Channels))
		require.Equal(t, a.Next, b.Next)
	})
}

func testListOrder(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	// Byte order: '-' < digits < upper case < '_' < lower case.
	in := []string{"b", "a_b", "Z9", "a-b", "A_", "A", "a", "0", "9z", "a0", "A-", "a9"}
	for _, id := range in {
		require.NoError(t, s.CreateChannel(ctx, &channel.Channel{ID: id}))
	}
	want := slices.Clone(in)
	slices.Sort(want)
	for _, limit := range []int{1, 3, 100} {
		got, _ := listAll(t, s, limit)
		require.Equal(t, want, got, "limit %d", limit)
	}
}

func testCursorAfterChanges(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	for _, id := range []string{"b", "d", "f", "h"} {
		require.NoError(t, s.CreateChannel(ctx, &channel.Channel{ID: id}))
	}
	page, err := s.ListChannels(ctx, store.ListOptions{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"b", "d"}, ids(page.Channels))
	require.NotEmpty(t, page.Next)

	// The channel the cursor points at goes away, one appears before the
	// cursor and one after it: the next page starts right after "d".
	require.NoError(t, s.DeleteChannel(ctx, "d"))
	require.NoError(t, s.CreateChannel(ctx, &channel.Channel{ID: "c"}))
	require.NoError(t, s.CreateChannel(ctx, &channel.Channel{ID: "e"}))

	page, err = s.ListChannels(ctx, store.ListOptions{Limit: 2, Cursor: page.Next})
	require.NoError(t, err)
	require.Equal(t, []string{"e", "f"}, ids(page.Channels))
	require.NotEmpty(t, page.Next)
	page, err = s.ListChannels(ctx, store.ListOptions{Limit: 2, Cursor: page.Next})
	require.NoError(t, err)
	require.Equal(t, []string{"h"}, ids(page.Channels))
	require.Empty(t, page.Next)

	// Deleting everything after a cursor gives an empty last page.
	page, err = s.ListChannels(ctx, store.ListOptions{Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c", "e"}, ids(page.Channels))
	require.NoError(t, s.DeleteChannel(ctx, "f"))
	require.NoError(t, s.DeleteChannel(ctx, "h"))
	page, err = s.ListChannels(ctx, store.ListOptions{Limit: 3, Cursor: page.Next})
	require.NoError(t, err)
	require.Empty(t, page.Channels)
	require.Empty(t, page.Next)
}

func testBadCursor(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	for _, id := range []string{"a", "b", "c", "d"} {
		require.NoError(t, s.CreateChannel(ctx, &channel.Channel{ID: id}))
	}
	page, err := s.ListChannels(ctx, store.ListOptions{Limit: 1})
	require.NoError(t, err)
	real := page.Next
	require.NotEmpty(t, real)

	garbage := []struct{ name, cursor string }{
		{"not base64", "!!!not a cursor!!!"},
		{"percent escapes", "%2F%2E%2E"},
		{"whitespace", "   "},
		{"control bytes", "\x00\x01\xff"},
		{"invalid utf-8", "\xc3\x28"},
		{"json", `{"id":"a"}`},
		{"huge", strings.Repeat("A", 1<<16)},
		{"huge garbage", strings.Repeat("!", 1<<16)},
		{"real cursor with garbage appended", real + "!!"},
		{"real cursor with space", real[:len(real)/2] + " " + real[len(real)/2:]},
	}
	for _, tc := range garbage {
		t.Run(tc.name, func(t *testing.T) {
			require.NotPanics(t, func() {
				_, err := s.ListChannels(ctx, store.ListOptions{Limit: 1, Cursor: tc.cursor})
				require.ErrorIs(t, err, store.ErrInvalidCursor)
			})
		})
	}

	// Edited real cursors may happen to be valid cursors too; they must give a
	// clear error or a well-formed page, never a panic.
	var edits []string
	for i := range real {
		for _, b := range []byte{'A', 'z', '0', '_', '-', '=', '.', 0} {
			edits = append(edits, real[:i]+string(b)+real[i+1:])
		}
		edits = append(edits, real[:i], real[i:])
	}
	for _, cursor := range edits {
		require.NotPanics(t, func() {
			page, err := s.ListChannels(ctx, store.ListOptions{Limit: 2, Cursor: cursor})
			if err != nil {
				require.ErrorIs(t, err, store.ErrInvalidCursor, "cursor %q", cursor)
				return
			}
			require.LessOrEqual(t, len(page.Channels), 2)
		}, "cursor %q", cursor)
	}
}

func session(channelID, sessionID string, started time.Time, lease time.Duration) store.Session {
	return store.Session{
		ChannelID: channelID,
		SessionID: sessionID,
		Gateway:   "10.0.0.1:8080",
		Region:    "eu-west-1",
		StartedAt: started,
		ExpiresAt: started.Add(lease),
	}
}

func testSessions(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	now := base()

	_, err := s.GetSession(ctx, "ch")
	require.ErrorIs(t, err, store.ErrNotFound)

	first := session("ch", "s1", now, time.Hour)
	require.NoError(t, s.AcquireSession(ctx, first))
	got, err := s.GetSession(ctx, "ch")
	require.NoError(t, err)
	requireSameSession(t, first, got)

	t.Run("another session is refused", func(t *testing.T) {
		other := session("ch", "s2", now, time.Hour)
		other.Gateway = "10.0.0.2:8080"
		err := s.AcquireSession(ctx, other)
		require.ErrorIs(t, err, store.ErrLive)
		got, err := s.GetSession(ctx, "ch")
		require.NoError(t, err)
		requireSameSession(t, first, got)
	})

	t.Run("same session renews", func(t *testing.T) {
		renewed := first
		renewed.ExpiresAt = now.Add(2 * time.Hour)
		renewed.Gateway = "10.0.0.9:8080"
		require.NoError(t, s.AcquireSession(ctx, renewed))
		got, err := s.GetSession(ctx, "ch")
		require.NoError(t, err)
		requireSameSession(t, renewed, got)
		// Renewing again with the same values is fine too.
		require.NoError(t, s.AcquireSession(ctx, renewed))
	})

	t.Run("channels are independent", func(t *testing.T) {
		require.NoError(t, s.AcquireSession(ctx, session("other", "s2", now, time.Hour)))
		got, err := s.GetSession(ctx, "other")
		require.NoError(t, err)
		require.Equal(t, "s2", got.SessionID)
		got, err = s.GetSession(ctx, "ch")
		require.NoError(t, err)
		require.Equal(t, "s1", got.SessionID)
	})
}

func testSessionRefusals(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	now := base()
	valid := session("ch", "s1", now, time.Minute)
	with := func(edit func(*store.Session)) store.Session {
		c := valid
		edit(&c)
		return c
	}
	cases := []struct {
		name string
		sess store.Session
	}{
		{"empty channel id", with(func(s *store.Session) { s.ChannelID = "" })},
		{"invalid channel id", with(func(s *store.Session) { s.ChannelID = "../ch" })},
		{"empty session id", with(func(s *store.Session) { s.SessionID = "" })},
		{"session id too long", with(func(s *store.Session) { s.SessionID = strings.Repeat("s", store.MaxSessionIDLength+1) })},
		{"empty gateway", with(func(s *store.Session) { s.Gateway = "" })},
		{"zero start", with(func(s *store.Session) { s.StartedAt = time.Time{} })},
		{"zero expiry", with(func(s *store.Session) { s.ExpiresAt = time.Time{} })},
		{"expiry before start", with(func(s *store.Session) { s.ExpiresAt = s.StartedAt.Add(-time.Second) })},
		{"expiry equals start", with(func(s *store.Session) { s.ExpiresAt = s.StartedAt })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.AcquireSession(ctx, tc.sess)
			require.ErrorIs(t, err, store.ErrInvalid)
		})
	}
	sessions, err := s.ListSessions(ctx)
	require.NoError(t, err)
	require.Empty(t, sessions, "refused sessions must not be stored")

	for _, id := range []string{"", "missing", "../x"} {
		_, err := s.GetSession(ctx, id)
		require.ErrorIs(t, err, store.ErrNotFound, "get session %q", id)
	}
}

func testSessionExpiry(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	now := base()

	// A lease that has already ended: stored, but it blocks nobody and is
	// neither returned nor listed.
	stale := session("ch", "old", now.Add(-2*time.Hour), time.Hour)
	require.NoError(t, s.AcquireSession(ctx, stale))
	_, err := s.GetSession(ctx, "ch")
	require.ErrorIs(t, err, store.ErrNotFound)
	sessions, err := s.ListSessions(ctx)
	require.NoError(t, err)
	require.Empty(t, sessions)

	fresh := session("ch", "new", now, time.Hour)
	fresh.Gateway = "10.0.0.2:8080"
	require.NoError(t, s.AcquireSession(ctx, fresh), "an expired session must be taken over")
	got, err := s.GetSession(ctx, "ch")
	require.NoError(t, err)
	requireSameSession(t, fresh, got)

	// The old session can no longer renew or release the channel.
	renewOld := session("ch", "old", now, time.Hour)
	require.ErrorIs(t, s.AcquireSession(ctx, renewOld), store.ErrLive)
	require.NoError(t, s.ReleaseSession(ctx, "ch", "old"))
	got, err = s.GetSession(ctx, "ch")
	require.NoError(t, err)
	require.Equal(t, "new", got.SessionID)

	// An expired session may also be revived by its own id.
	require.NoError(t, s.AcquireSession(ctx, session("ch2", "x", now.Add(-2*time.Hour), time.Hour)))
	require.NoError(t, s.AcquireSession(ctx, session("ch2", "x", now, time.Hour)))
	got, err = s.GetSession(ctx, "ch2")
	require.NoError(t, err)
	require.Equal(t, "x", got.SessionID)
}

func testReleaseSession(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	now := base()
	held := session("ch", "s1", now, time.Hour)
	require.NoError(t, s.AcquireSession(ctx, held))
	require.NoError(t, s.AcquireSession(ctx, session("other", "s1", now, time.Hour)))

	noops := []struct{ name, channelID, sessionID string }{
		{"wrong session id", "ch", "s2"},
		{"empty session id", "ch", ""},
		{"session id prefix", "ch", "s"},
		{"missing channel", "missing", "s1"},
		{"empty channel", "", "s1"},
	}
	for _, tc := range noops {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.ReleaseSession(ctx, tc.channelID, tc.sessionID))
			got, err := s.GetSession(ctx, "ch")
			require.NoError(t, err, "release must leave the session in place")
			requireSameSession(t, held, got)
		})
	}

	require.NoError(t, s.ReleaseSession(ctx, "ch", "s1"))
	_, err := s.GetSession(ctx, "ch")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetSession(ctx, "other")
	require.NoError(t, err, "release must only touch its own channel")

	require.NoError(t, s.ReleaseSession(ctx, "ch", "s1"), "a second release does nothing")
	require.NoError(t, s.AcquireSession(ctx, session("ch", "s2", now, time.Hour)), "a released channel is free")
}

func testListSessions(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	now := base()

	sessions, err := s.ListSessions(ctx)
	require.NoError(t, err)
	require.Empty(t, sessions)

	live := []store.Session{
		session("a", "s-a", now, time.Hour),
		session("b", "s-b", now.Add(-time.Minute), 2*time.Minute),
		session("c", "s-c", now, 24*time.Hour),
	}
	for _, i := range []int{2, 0, 1} {
		require.NoError(t, s.AcquireSession(ctx, live[i]))
	}
	require.NoError(t, s.AcquireSession(ctx, session("bb", "s-bb", now.Add(-time.Hour), time.Minute)))
	require.NoError(t, s.AcquireSession(ctx, session("d", "s-d", now, time.Hour)))
	require.NoError(t, s.ReleaseSession(ctx, "d", "s-d"))

	sessions, err = s.ListSessions(ctx)
	require.NoError(t, err)
	require.Len(t, sessions, len(live))
	for i := range live {
		requireSameSession(t, live[i], sessions[i])
	}

	sessions[0].Gateway = "changed"
	again, err := s.ListSessions(ctx)
	require.NoError(t, err)
	requireSameSession(t, live[0], again[0])
}

func testConcurrentAcquire(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	now := base()
	errs := make([]error, Contenders)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range Contenders {
		wg.Go(func() {
			<-start
			sess := session("ch", fmt.Sprintf("session-%d", i), now, time.Hour)
			sess.Gateway = fmt.Sprintf("10.0.0.%d:8080", i)
			errs[i] = s.AcquireSession(ctx, sess)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "sessions %d and %d both acquired the channel", winner, i)
			winner = i
			continue
		}
		require.ErrorIs(t, err, store.ErrLive, "contender %d", i)
	}
	require.NotEqual(t, -1, winner, "no contender acquired the channel")
	got, err := s.GetSession(ctx, "ch")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("session-%d", winner), got.SessionID)
	require.Equal(t, fmt.Sprintf("10.0.0.%d:8080", winner), got.Gateway)

	// Renewals by the winner racing with takeover attempts: the winner keeps it.
	for i := range Contenders {
		wg.Go(func() {
			id := fmt.Sprintf("session-%d", i)
			err := s.AcquireSession(ctx, session("ch", id, now, time.Hour+time.Duration(i)*time.Second))
			if i == winner {
				errs[i] = err
			} else if !errors.Is(err, store.ErrLive) {
				errs[i] = fmt.Errorf("contender %d: want ErrLive, got %v", i, err)
			} else {
				errs[i] = nil
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	got, err = s.GetSession(ctx, "ch")
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("session-%d", winner), got.SessionID)
}

func testSettings(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()

	_, err := s.GetSetting(ctx, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)

	cases := []struct {
		name, key string
		value     []byte
	}{
		{"text", "cloudfront/key-pair-id", []byte("K2JCJMDEHXQW5F")},
		{"binary", "bin", []byte{0, 1, 2, 0xff, 0xfe, 0}},
		{"empty value", "empty", []byte{}},
		{"nil value", "nil", nil},
		{"unicode key", "模板/默认", []byte(`{"a":1}`)},
		{"longest key", strings.Repeat("k", store.MaxSettingKeyLength), []byte("v")},
		{"largest value", "big", []byte(strings.Repeat("x", store.MaxSettingValueSize))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.PutSetting(ctx, tc.key, tc.value))
			got, err := s.GetSetting(ctx, tc.key)
			require.NoError(t, err)
			if len(tc.value) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.value, got)
		})
	}

	t.Run("overwrite", func(t *testing.T) {
		require.NoError(t, s.PutSetting(ctx, "k", []byte("one")))
		require.NoError(t, s.PutSetting(ctx, "k", []byte("two")))
		got, err := s.GetSetting(ctx, "k")
		require.NoError(t, err)
		require.Equal(t, []byte("two"), got)
	})

	t.Run("values are copies", func(t *testing.T) {
		in := []byte("original")
		require.NoError(t, s.PutSetting(ctx, "copy", in))
		copy(in, "XXXXXXXX")
		got, err := s.GetSetting(ctx, "copy")
		require.NoError(t, err)
		require.Equal(t, []byte("original"), got)
		copy(got, "YYYYYYYY")
		again, err := s.GetSetting(ctx, "copy")
		require.NoError(t, err)
		require.Equal(t, []byte("original"), again)
	})

	t.Run("keys are exact", func(t *testing.T) {
		require.NoError(t, s.PutSetting(ctx, "prefix/key", []byte("v")))
		_, err := s.GetSetting(ctx, "prefix/ke")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.GetSetting(ctx, "prefix/key2")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func testSettingRefusals(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	cases := []struct {
		name string
		op   func() error
	}{
		{"put empty key", func() error { return s.PutSetting(ctx, "", []byte("v")) }},
		{"put key too long", func() error {
			return s.PutSetting(ctx, strings.Repeat("k", store.MaxSettingKeyLength+1), []byte("v"))
		}},
		{"put value too large", func() error {
			return s.PutSetting(ctx, "big", make([]byte, store.MaxSettingValueSize+1))
		}},
		{"get empty key", func() error { _, err := s.GetSetting(ctx, ""); return err }},
		{"get key too long", func() error {
			_, err := s.GetSetting(ctx, strings.Repeat("k", store.MaxSettingKeyLength+1))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.op(), store.ErrInvalid)
		})
	}
	_, err := s.GetSetting(ctx, "big")
	require.ErrorIs(t, err, store.ErrNotFound, "a refused value must not be stored")
}

func testCanceledContext(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	live := t.Context()
	now := base()
	require.NoError(t, s.CreateChannel(live, sampleChannel("ch")))
	require.NoError(t, s.AcquireSession(live, session("ch", "s1", now, time.Hour)))
	require.NoError(t, s.PutSetting(live, "k", []byte("v")))

	ctx, cancel := context.WithCancel(live)
	cancel()
	cases := []struct {
		name string
		op   func() error
	}{
		{"CreateChannel", func() error { return s.CreateChannel(ctx, sampleChannel("new")) }},
		{"GetChannel", func() error { _, err := s.GetChannel(ctx, "ch"); return err }},
		{"UpdateChannel", func() error { return s.UpdateChannel(ctx, sampleChannel("ch")) }},
		{"DeleteChannel", func() error { return s.DeleteChannel(ctx, "ch") }},
		{"ListChannels", func() error { _, err := s.ListChannels(ctx, store.ListOptions{}); return err }},
		{"AcquireSession", func() error { return s.AcquireSession(ctx, session("new", "s1", now, time.Hour)) }},
		{"ReleaseSession", func() error { return s.ReleaseSession(ctx, "ch", "s1") }},
		{"GetSession", func() error { _, err := s.GetSession(ctx, "ch"); return err }},
		{"ListSessions", func() error { _, err := s.ListSessions(ctx); return err }},
		{"GetSetting", func() error { _, err := s.GetSetting(ctx, "k"); return err }},
		{"PutSetting", func() error { return s.PutSetting(ctx, "k", []byte("w")) }},
	}
	for name, op := range canceledRecordingOps(ctx, s) {
		cases = append(cases, struct {
			name string
			op   func() error
		}{name, op})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.op(), context.Canceled)
		})
	}

	// Nothing was changed by the canceled calls.
	_, err := s.GetChannel(live, "new")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetChannel(live, "ch")
	require.NoError(t, err)
	got, err := s.GetSession(live, "ch")
	require.NoError(t, err)
	require.Equal(t, "s1", got.SessionID)
	v, err := s.GetSetting(live, "k")
	require.NoError(t, err)
	require.Equal(t, []byte("v"), v)
}

func testClose(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	require.NoError(t, s.CreateChannel(ctx, sampleChannel("ch")))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close must do nothing")
	require.NotPanics(t, func() {
		_, err := s.GetChannel(ctx, "ch")
		require.Error(t, err, "use after Close must fail")
		require.Error(t, s.PutSetting(ctx, "k", nil), "use after Close must fail")
	})
}
