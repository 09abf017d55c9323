package dynamostore

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// cursorPrefix versions the cursor format.
//
// A cursor stands for the LastEvaluatedKey of a channels page, the position
// of its last channel in gsi1. All four attributes of that key (pk, sk,
// gsi1pk, gsi1sk) follow from the channel id, so the cursor is
// base64url("d1:" + id) and decoding rebuilds the key: a cursor can only
// ever name a position in the channel list, never an arbitrary key.
const cursorPrefix = "d1:"

// maxCursorLength is the length of the longest valid cursor (a 64-byte id).
var maxCursorLength = base64.RawURLEncoding.EncodedLen(len(cursorPrefix) + 64)

func encodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + lastID))
}

// decodeCursor returns the channel id a cursor points after; "" for the
// empty cursor. Errors wrap store.ErrInvalidCursor.
func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	if len(cursor) > maxCursorLength {
		return "", fmt.Errorf("%w: %d bytes, longer than any cursor", store.ErrInvalidCursor, len(cursor))
	}
	raw, err := decodeCanonical(cursor)
	if err != nil {
		return "", err
	}
	id, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return "", fmt.Errorf("%w: unknown format", store.ErrInvalidCursor)
	}
	if !channel.ValidID(id) {
		return "", fmt.Errorf("%w: bad position", store.ErrInvalidCursor)
	}
	return id, nil
}

// recCursorPrefix versions the recording cursor format.
//
// A recording cursor is base64url("r1:" + partition + "|" + position): the
// index partition the page was read from (RECORDINGS#{channel} or
// RECORDINGS) and the position "{start}#{id}" of the page's last recording.
// The next page is read below that position. Decoding checks that the
// partition is the one the query reads (a cursor of one channel does not
// page another) and that the position is a well-formed time and id.
const recCursorPrefix = "r1:"

// maxRecCursorLength bounds recording cursors: a 64-byte channel id in the
// partition, a time and a 64-byte id in the position.
var maxRecCursorLength = base64.RawURLEncoding.EncodedLen(
	len(recCursorPrefix) + len(prefixChannelRec) + 64 + 1 + len(sortTimeLayout) + 1 + 64)

func encodeRecCursor(partition, position string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(recCursorPrefix + partition + "|" + position))
}

// decodeRecCursor returns the position a recording cursor points below; ""
// for the empty cursor. Errors wrap store.ErrInvalidCursor.
func decodeRecCursor(cursor, partition string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	if len(cursor) > maxRecCursorLength {
		return "", fmt.Errorf("%w: %d bytes, longer than any cursor", store.ErrInvalidCursor, len(cursor))
	}
	raw, err := decodeCanonical(cursor)
	if err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(string(raw), recCursorPrefix)
	if !ok {
		return "", fmt.Errorf("%w: unknown format", store.ErrInvalidCursor)
	}
	p, position, ok := strings.Cut(rest, "|")
	if !ok || p != partition {
		return "", fmt.Errorf("%w: cursor of another listing", store.ErrInvalidCursor)
	}
	when, id, ok := strings.Cut(position, "#")
	if !ok || !channel.ValidID(id) || len(when) != len(sortTimeLayout) {
		return "", fmt.Errorf("%w: bad position", store.ErrInvalidCursor)
	}
	if _, err := time.Parse(sortTimeLayout, when); err != nil {
		return "", fmt.Errorf("%w: bad position time", store.ErrInvalidCursor)
	}
	return position, nil
}

// decodeCanonical decodes base64url and refuses any other spelling of the
// same bytes (the decoder skips '\r' and '\n'), so that one position has
// one cursor.
func decodeCanonical(cursor string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalidCursor, err)
	}
	if base64.RawURLEncoding.EncodeToString(raw) != cursor {
		return nil, fmt.Errorf("%w: not canonical base64url", store.ErrInvalidCursor)
	}
	return raw, nil
}
