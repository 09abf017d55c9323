package dynamostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/store"
)

func secretHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// putOrphanHash writes a hash item naming id, written at writtenAt, as a
// crash between the two writes of CreateAPIKey (or the two deletes of
// DeleteAPIKey) leaves it.
func putOrphanHash(t *testing.T, client *dynamodb.Client, table, hash, id string, writtenAt time.Time) {
	t.Helper()
	item, err := itemOf(apiKeyHashKeys(hash), apiKeyHashItem{Type: typeAPIKeyHash, Hash: hash, ID: id, WrittenAt: writtenAt.UnixMilli()})
	require.NoError(t, err)
	_, err = client.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item})
	require.NoError(t, err)
}

func TestAPIKeyCrashWindows(t *testing.T) {
	client, table := newTable(t)
	s, err := New(t.Context(), Config{Table: table, Client: client})
	require.NoError(t, err)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	s.now = func() time.Time { return now }
	key := func(id, secret string) store.APIKey {
		return store.APIKey{ID: id, Name: id, Hash: secretHash(secret), Prefix: "lsk_" + id, CreatedAt: now}
	}

	t.Run("crash after the hash item", func(t *testing.T) {
		h := secretHash("a")
		putOrphanHash(t, client, table, h, "ka", now)
		_, err := s.APIKeyByHash(ctx, h)
		require.ErrorIs(t, err, store.ErrNotFound, "an orphaned hash item authenticates nothing")
		keys, err := s.ListAPIKeys(ctx)
		require.NoError(t, err)
		require.Empty(t, keys)

		// Within the grace period another id cannot take the hash...
		require.ErrorIs(t, s.CreateAPIKey(ctx, key("other", "a")), store.ErrExists)
		// ...but a retry of the same creation completes it.
		require.NoError(t, s.CreateAPIKey(ctx, key("ka", "a")))
		got, err := s.APIKeyByHash(ctx, h)
		require.NoError(t, err)
		require.Equal(t, "ka", got.ID)
	})

	t.Run("orphan taken over after the grace period", func(t *testing.T) {
		h := secretHash("b")
		putOrphanHash(t, client, table, h, "crashed", now.Add(-orphanGrace-time.Second))
		require.NoError(t, s.CreateAPIKey(ctx, key("kb", "b")))
		got, err := s.APIKeyByHash(ctx, h)
		require.NoError(t, err)
		require.Equal(t, "kb", got.ID)
	})

	t.Run("a live key's hash is never taken over", func(t *testing.T) {
		require.NoError(t, s.CreateAPIKey(ctx, key("kc", "c")))
		later := now.Add(24 * time.Hour)
		s.now = func() time.Time { return later }
		defer func() { s.now = func() time.Time { return now } }()
		require.ErrorIs(t, s.CreateAPIKey(ctx, key("thief", "c")), store.ErrExists)
		got, err := s.APIKeyByHash(ctx, secretHash("c"))
		require.NoError(t, err)
		require.Equal(t, "kc", got.ID)
	})

	t.Run("crash between the deletes", func(t *testing.T) {
		require.NoError(t, s.CreateAPIKey(ctx, key("kd", "d")))
		_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: apiKeyKeys("kd").primary()})
		require.NoError(t, err)
		_, err = s.APIKeyByHash(ctx, secretHash("d"))
		require.ErrorIs(t, err, store.ErrNotFound, "a deleted key stops working with its key item")
		require.ErrorIs(t, s.DeleteAPIKey(ctx, "kd"), store.ErrNotFound)
		// Recreating the same key completes at once (same id).
		require.NoError(t, s.CreateAPIKey(ctx, key("kd", "d")))
		_, err = s.APIKeyByHash(ctx, secretHash("d"))
		require.NoError(t, err)
	})

	t.Run("id taken undoes the hash item", func(t *testing.T) {
		require.NoError(t, s.CreateAPIKey(ctx, key("ke", "e")))
		require.ErrorIs(t, s.CreateAPIKey(ctx, key("ke", "f")), store.ErrExists)
		require.Empty(t, rawItem(t, client, table, apiKeyHashKeys(secretHash("f"))), "the refused creation's hash item is gone")
		// The hash is free for another key at once.
		require.NoError(t, s.CreateAPIKey(ctx, key("kf", "f")))
		// The first key still works.
		got, err := s.APIKeyByHash(ctx, secretHash("e"))
		require.NoError(t, err)
		require.Equal(t, "ke", got.ID)
	})

	t.Run("a key whose hash item names another key", func(t *testing.T) {
		// As left by a takeover racing with a stalled creation.
		require.NoError(t, s.CreateAPIKey(ctx, key("kg", "g")))
		putOrphanHash(t, client, table, secretHash("g"), "someone", now)
		_, err := s.APIKeyByHash(ctx, secretHash("g"))
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("refusals", func(t *testing.T) {
		for _, h := range []string{"", "abc", strings.Repeat("A", 64), strings.Repeat("0", 65)} {
			_, err := s.APIKeyByHash(ctx, h)
			require.ErrorIs(t, err, store.ErrNotFound, "hash %q", h)
		}
		bad := key("kh", "h")
		bad.Name = "\xff"
		require.ErrorIs(t, s.CreateAPIKey(ctx, bad), store.ErrInvalid)
		require.Empty(t, rawItem(t, client, table, apiKeyHashKeys(bad.Hash)), "a refused key writes nothing")
		require.ErrorIs(t, s.DeleteAPIKey(ctx, "a/b"), store.ErrNotFound)
	})

	// Every key left in a consistent state is listed once, in id order.
	keys, err := s.ListAPIKeys(ctx)
	require.NoError(t, err)
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	require.Equal(t, []string{"ka", "kb", "kc", "kd", "ke", "kf", "kg"}, ids)
}

// stallingAPI runs hook before the first PutItem of an api key item, as if
// the creator stalled between its two writes.
type stallingAPI struct {
	API
	hook func()
	done bool
}

func (a *stallingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if pk, ok := in.Item[attrPK]; ok && !a.done && strings.HasPrefix(attrValue(pk), prefixAPIKey) {
		a.done = true
		a.hook()
	}
	return a.API.PutItem(ctx, in, optFns...)
}

// TestAPIKeyStalledCreation: a creator stalls after claiming the hash for
// longer than orphanGrace; another takes the hash over meanwhile. The
// stalled creator must notice and undo its key, so that one key holds the
// hash.
func TestAPIKeyStalledCreation(t *testing.T) {
	client, table := newTable(t)
	now := time.Now().UTC().Truncate(time.Second)
	other, err := New(t.Context(), Config{Table: table, Client: client})
	require.NoError(t, err)
	other.now = func() time.Time { return now.Add(orphanGrace + time.Second) }
	h := secretHash("s")

	stalling := &stallingAPI{API: client}
	slow, err := New(t.Context(), Config{Table: table, Client: stalling})
	require.NoError(t, err)
	slow.now = func() time.Time { return now }
	stalling.hook = func() {
		require.NoError(t, other.CreateAPIKey(t.Context(), store.APIKey{ID: "fast", Hash: h, CreatedAt: now}))
	}
	err = slow.CreateAPIKey(t.Context(), store.APIKey{ID: "slow", Hash: h, CreatedAt: now})
	require.ErrorIs(t, err, store.ErrExists)

	got, err := other.APIKeyByHash(t.Context(), h)
	require.NoError(t, err)
	require.Equal(t, "fast", got.ID)
	keys, err := other.ListAPIKeys(t.Context())
	require.NoError(t, err)
	require.Len(t, keys, 1, "the stalled creator's key was undone")
	require.Equal(t, "fast", keys[0].ID)
}
