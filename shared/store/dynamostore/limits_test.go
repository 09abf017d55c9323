package dynamostore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// TestItemSizeLimits checks that writes over DynamoDB's 400 KB item limit
// are refused as invalid before they are sent, and that what itemSize lets
// through right at the limit is accepted by the emulator, which enforces
// the limit the way DynamoDB documents it.
func TestItemSizeLimits(t *testing.T) {
	client, table := newTable(t)
	s, err := New(t.Context(), Config{Table: table, Client: client})
	require.NoError(t, err)
	ctx := t.Context()

	t.Run("channel", func(t *testing.T) {
		c := &channel.Channel{ID: "big", Description: strings.Repeat("x", MaxItemBytes)}
		require.ErrorIs(t, s.CreateChannel(ctx, c), store.ErrInvalid)
		_, err := s.GetChannel(ctx, "big")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("largest channel", func(t *testing.T) {
		// Grow the description until the item is exactly at the limit.
		c := &channel.Channel{ID: "edge"}
		item, err := itemOf(channelKeys(c.ID), channelItem{Type: typeChannel, ID: c.ID, Data: mustJSON(t, c)})
		require.NoError(t, err)
		c.Description = strings.Repeat("y", MaxItemBytes-itemSize(item))
		item, err = itemOf(channelKeys(c.ID), channelItem{Type: typeChannel, ID: c.ID, Data: mustJSON(t, c)})
		require.NoError(t, err)
		require.Equal(t, MaxItemBytes, itemSize(item))
		require.NoError(t, s.CreateChannel(ctx, c), "an item at the limit must be accepted")
		got, err := s.GetChannel(ctx, "edge")
		require.NoError(t, err)
		require.Equal(t, c.Description, got.Description)
		c.Description += "y"
		require.ErrorIs(t, s.UpdateChannel(ctx, c), store.ErrInvalid, "one byte more is refused")
	})

	t.Run("emulator refuses what itemSize refuses", func(t *testing.T) {
		// The estimate never undercounts: an item it puts one byte over the
		// limit is also refused by the emulator when sent directly.
		c := &channel.Channel{ID: "raw"}
		base, err := itemOf(channelKeys(c.ID), channelItem{Type: typeChannel, ID: c.ID, Data: mustJSON(t, c)})
		require.NoError(t, err)
		c.Description = strings.Repeat("z", MaxItemBytes-itemSize(base)+1)
		k := channelKeys(c.ID)
		item, err := attributevalueMarshal(channelItem{Type: typeChannel, ID: c.ID, Data: mustJSON(t, c)})
		require.NoError(t, err)
		for name, av := range k.item() {
			item[name] = av
		}
		require.Equal(t, MaxItemBytes+1, itemSize(item))
		_, err = client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item})
		require.ErrorContains(t, err, "Item size has exceeded the maximum allowed size")
	})

	t.Run("recording keys", func(t *testing.T) {
		now := time.Now()
		r := &store.Recording{
			ID: "r1", ChannelID: "ch", Kind: store.KindMP4, Status: store.StatusComplete,
			StartedAt: now, UpdatedAt: now,
			Prefix: "recordings/ch/" + strings.Repeat("p", 400) + "/",
		}
		// The port's largest recording: 2,000 keys of 512 bytes. Sharing
		// the prefix, it is stored relative to it and fits.
		for i := range store.MaxRecordingKeys {
			k := r.Prefix + fmt.Sprintf("%06d.mp4", i)
			r.Keys = append(r.Keys, k+strings.Repeat("k", store.MaxBlobKeyLength-len(k)))
		}
		require.NoError(t, s.PutRecording(ctx, r))
		got, err := s.GetRecording(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, r.Keys, got.Keys)

		// Without a common prefix the same keys are 1 MB: refused, and the
		// stored recording is unchanged.
		r2 := *r
		r2.Prefix = "elsewhere/"
		require.ErrorIs(t, s.PutRecording(ctx, &r2), store.ErrInvalid)
		got, err = s.GetRecording(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, r.Prefix, got.Prefix)
	})

	t.Run("setting", func(t *testing.T) {
		// The port's largest setting fits (the contract suite stores it); a
		// key that is not UTF-8 cannot be a DynamoDB string.
		require.ErrorIs(t, s.PutSetting(ctx, "bad\xff", []byte("v")), store.ErrInvalid)
	})
}
