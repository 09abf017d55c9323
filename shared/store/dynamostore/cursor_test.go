package dynamostore

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/store"
)

// FuzzDecodeCursor: a channel cursor is untrusted input. Decoding never
// panics, fails only with ErrInvalidCursor, and what decodes is a valid
// channel id that encodes back to the same cursor.
func FuzzDecodeCursor(f *testing.F) {
	for _, seed := range []string{"", encodeCursor("a"), encodeCursor("ch-1_x"), "ZDE6", "!!", "ZDE6Li4vYQ"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		id, err := decodeCursor(cursor)
		if err != nil {
			require.True(t, errors.Is(err, store.ErrInvalidCursor), "%v", err)
			return
		}
		if cursor == "" {
			require.Empty(t, id)
			return
		}
		require.Equal(t, cursor, encodeCursor(id))
	})
}

// FuzzDecodeRecCursor: the same for recording cursors, which must also name
// the listing they page.
func FuzzDecodeRecCursor(f *testing.F) {
	pos := recordingPosition(time.Date(2025, 3, 1, 10, 0, 0, 5, time.UTC), "r1")
	for _, seed := range []string{"", encodeRecCursor("RECORDINGS#a", pos), encodeRecCursor(gsi2Recordings, pos), encodeRecCursor("RECORDINGS#a", "x#y"), "cjE6"} {
		f.Add(seed, "a")
		f.Add(seed, "")
	}
	f.Fuzz(func(t *testing.T, cursor, channelID string) {
		partition := gsi2Recordings
		if channelID != "" {
			partition = prefixChannelRec + channelID
		}
		position, err := decodeRecCursor(cursor, partition)
		if err != nil {
			require.True(t, errors.Is(err, store.ErrInvalidCursor), "%v", err)
			return
		}
		if cursor == "" {
			require.Empty(t, position)
			return
		}
		require.Equal(t, cursor, encodeRecCursor(partition, position))
		require.LessOrEqual(t, len(position), maxSortKeyBytes)
	})
}

func TestCursorsRoundTrip(t *testing.T) {
	id, err := decodeCursor(encodeCursor("abc"))
	require.NoError(t, err)
	require.Equal(t, "abc", id)
	pos := recordingPosition(time.Date(2025, 3, 1, 10, 0, 0, 5, time.UTC), "r1")
	got, err := decodeRecCursor(encodeRecCursor("RECORDINGS#a", pos), "RECORDINGS#a")
	require.NoError(t, err)
	require.Equal(t, pos, got)
	_, err = decodeRecCursor(encodeRecCursor("RECORDINGS#a", pos), "RECORDINGS#b")
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}
