package dynamostore

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/store"
)

func testRecording(id, ch string, started time.Time) *store.Recording {
	return &store.Recording{
		ID: id, ChannelID: ch, Kind: store.KindMP4, Status: store.StatusRecording,
		StartedAt: started, UpdatedAt: started, Prefix: "rec/" + ch + "/" + id + "/",
		Keys: []string{"rec/" + ch + "/" + id + "/000001.mp4", "rec/" + ch + "/" + id + "/000002.mp4"},
	}
}

func TestRecordingItem(t *testing.T) {
	client, table := newTable(t)
	s, err := New(t.Context(), Config{Table: table, Client: client})
	require.NoError(t, err)
	ctx := t.Context()
	started := time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))

	r := testRecording("r1", "ch", started)
	require.NoError(t, s.PutRecording(ctx, r))
	item := rawItem(t, client, table, recordingKeys("r1", "", time.Time{}))
	require.Equal(t, "RECORDINGS#ch", attrS(t, item, attrGSI1PK))
	require.Equal(t, "2025-03-01T09:00:00.123456789Z#r1", attrS(t, item, attrGSI1SK))
	require.Equal(t, "RECORDINGS", attrS(t, item, attrGSI2PK))
	require.Equal(t, "2025-03-01T09:00:00.123456789Z#r1", attrS(t, item, attrGSI2SK))
	require.Equal(t, "2025-03-01T09:00:00.123456789Z", attrS(t, item, "startedAt"))
	// Keys under the prefix are stored relative to it.
	keys, ok := item[attrKeys].(*types.AttributeValueMemberL)
	require.True(t, ok)
	require.Equal(t, &types.AttributeValueMemberS{Value: "000001.mp4"}, keys.Value[0])
	require.Equal(t, &types.AttributeValueMemberBOOL{Value: true}, item["keysRelative"])
	_, hasTTL := item[attrTTL]
	require.False(t, hasTTL, "recordings do not expire")

	cases := []struct {
		name string
		edit func(r *store.Recording)
	}{
		{"a key outside the prefix", func(r *store.Recording) { r.Keys = append(r.Keys, "other/x.mp4") }},
		{"a key equal to the prefix", func(r *store.Recording) { r.Keys = append(r.Keys, r.Prefix) }},
		{"no prefix", func(r *store.Recording) { r.Prefix = "" }},
		{"nil keys", func(r *store.Recording) { r.Keys = nil }},
		{"empty keys", func(r *store.Recording) { r.Keys = []string{} }},
		{"ended", func(r *store.Recording) { end := r.StartedAt.Add(time.Minute); r.EndedAt = &end }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := testRecording(fmt.Sprintf("c%d", i), "ch", started)
			tc.edit(r)
			require.NoError(t, s.PutRecording(ctx, r))
			got, err := s.GetRecording(ctx, r.ID)
			require.NoError(t, err)
			require.Equal(t, r.Keys, got.Keys) // nil stays nil, empty stays empty
			require.True(t, r.StartedAt.Equal(got.StartedAt))
			require.Equal(t, r.EndedAt == nil, got.EndedAt == nil)
		})
	}

	t.Run("start years outside 1-9999", func(t *testing.T) {
		r := testRecording("far", "ch", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
		require.ErrorIs(t, s.PutRecording(ctx, r), store.ErrInvalid)
	})
}

func TestListRecordingsBounds(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	base := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 6 {
		require.NoError(t, s.PutRecording(ctx, testRecording(fmt.Sprintf("a%d", i), "a", base.Add(time.Duration(i)*time.Minute))))
		require.NoError(t, s.PutRecording(ctx, testRecording(fmt.Sprintf("b%d", i), "b", base.Add(time.Duration(i)*time.Minute))))
	}
	list := func(q store.RecordingQuery) []string {
		t.Helper()
		p, err := s.ListRecordings(ctx, q)
		require.NoError(t, err)
		var ids []string
		for _, r := range p.Recordings {
			ids = append(ids, r.ID)
		}
		return ids
	}

	far := time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)
	ancient := time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)
	require.Equal(t, []string{"a5", "a4", "a3", "a2", "a1", "a0"}, list(store.RecordingQuery{ChannelID: "a", Since: ancient, Until: far}))
	require.Empty(t, list(store.RecordingQuery{ChannelID: "a", Since: far}))
	require.Empty(t, list(store.RecordingQuery{ChannelID: "a", Until: ancient}))
	require.Empty(t, list(store.RecordingQuery{ChannelID: "a", Since: base.Add(time.Hour), Until: base}), "since after until")
	require.Empty(t, list(store.RecordingQuery{ChannelID: "a b"}), "no recording has an invalid channel id")
	require.Empty(t, list(store.RecordingQuery{ChannelID: "a", Kind: "avi"}))

	// A cursor pages the listing it came from only.
	p, err := s.ListRecordings(ctx, store.RecordingQuery{ChannelID: "a", Limit: 2})
	require.NoError(t, err)
	require.NotEmpty(t, p.Next)
	_, err = s.ListRecordings(ctx, store.RecordingQuery{ChannelID: "b", Limit: 2, Cursor: p.Next})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
	_, err = s.ListRecordings(ctx, store.RecordingQuery{Limit: 2, Cursor: p.Next})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
	_, err = s.ListChannels(ctx, store.ListOptions{Cursor: p.Next})
	require.ErrorIs(t, err, store.ErrInvalidCursor)

	// A cursor combined with a narrower Until than it points below.
	require.Equal(t, []string{"a1", "a0"}, list(store.RecordingQuery{ChannelID: "a", Until: base.Add(2 * time.Minute), Cursor: p.Next}))
	// ...and with a Since above it: nothing left.
	require.Empty(t, list(store.RecordingQuery{ChannelID: "a", Since: base.Add(5 * time.Minute), Cursor: p.Next}))
}
