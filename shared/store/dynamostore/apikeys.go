package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// orphanGrace is how long a hash item that names no key holding that hash
// blocks its hash. Such an item is either a creation in progress (between
// its two writes, which take milliseconds) or what a crash left behind.
const orphanGrace = time.Minute

// claimAttempts bounds the retries of claiming a hash against concurrent
// creators and deleters.
const claimAttempts = 3

// apiKeyItem is the non-key part of an api key item.
type apiKeyItem struct {
	Type      string `dynamodbav:"type"`
	ID        string `dynamodbav:"id"`
	Name      string `dynamodbav:"name,omitempty"`
	Hash      string `dynamodbav:"hash"`
	Prefix    string `dynamodbav:"prefix,omitempty"`
	CreatedAt string `dynamodbav:"createdAt"`
	ExpiresAt string `dynamodbav:"expiresAt,omitempty"`
}

// apiKeyHashItem is the non-key part of the item that finds a key by hash.
type apiKeyHashItem struct {
	Type string `dynamodbav:"type"`
	Hash string `dynamodbav:"hash"`
	// ID is the key the hash belongs to.
	ID string `dynamodbav:"id"`
	// WrittenAt is when the item was written, epoch milliseconds.
	WrittenAt int64 `dynamodbav:"writtenAt"`
}

func newAPIKeyItem(k store.APIKey) apiKeyItem {
	ki := apiKeyItem{
		Type: typeAPIKey, ID: k.ID, Name: k.Name, Hash: k.Hash, Prefix: k.Prefix,
		CreatedAt: formatTime(k.CreatedAt),
	}
	if k.ExpiresAt != nil {
		ki.ExpiresAt = formatTime(*k.ExpiresAt)
	}
	return ki
}

func decodeAPIKey(item map[string]types.AttributeValue) (store.APIKey, error) {
	var ki apiKeyItem
	if err := attributevalue.UnmarshalMap(item, &ki); err != nil {
		return store.APIKey{}, fmt.Errorf("decode api key item %s: %w", pkOf(item), err)
	}
	if ki.Type != typeAPIKey || !channel.ValidID(ki.ID) {
		return store.APIKey{}, fmt.Errorf("decode api key item %s: not an api key (type %q, id %q)", pkOf(item), ki.Type, ki.ID)
	}
	k := store.APIKey{ID: ki.ID, Name: ki.Name, Hash: ki.Hash, Prefix: ki.Prefix}
	var err error
	if k.CreatedAt, err = parseTime(ki.CreatedAt); err != nil {
		return store.APIKey{}, fmt.Errorf("decode api key item %s: createdAt: %w", pkOf(item), err)
	}
	if ki.ExpiresAt != "" {
		exp, err := parseTime(ki.ExpiresAt)
		if err != nil {
			return store.APIKey{}, fmt.Errorf("decode api key item %s: expiresAt: %w", pkOf(item), err)
		}
		k.ExpiresAt = &exp
	}
	return k, nil
}

// CreateAPIKey implements store.APIKeys without a transaction: it claims the
// hash item (APIKEYHASH#{hash}), writes the key item on condition that the
// id is free, then checks that it still holds the hash (see the package doc
// for the crash windows).
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	if err := k.Validate(); err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	if !utf8.ValidString(k.Name) || !utf8.ValidString(k.Prefix) {
		return fmt.Errorf("create api key: %w: name and prefix must be UTF-8", store.ErrInvalid)
	}
	keyItem, err := itemOf(apiKeyKeys(k.ID), newAPIKeyItem(k))
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	if err := s.claimHash(ctx, k); err != nil {
		return fmt.Errorf("create api key %s: %w", k.ID, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                keyItem,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if isConditionFailed(err) {
		// The id is taken. The hash item is ours to undo, unless the key
		// that holds the id is this very key (a retried create).
		existing, found, gerr := s.getAPIKey(ctx, k.ID)
		if gerr != nil {
			return fmt.Errorf("create api key %s: %w (and reading it: %w)", k.ID, store.ErrExists, gerr)
		}
		if !found || existing.Hash != k.Hash {
			if err := s.releaseHash(ctx, k.Hash, k.ID); err != nil {
				return fmt.Errorf("create api key %s: id taken: %w (and undoing the hash item: %w)", k.ID, store.ErrExists, err)
			}
		}
		return fmt.Errorf("create api key %s: id taken: %w", k.ID, store.ErrExists)
	}
	if err != nil {
		// The key may or may not be written; the hash item stays. Either it
		// names the key (a retry finds both), or it is an orphan, harmless and
		// taken over after orphanGrace.
		return fmt.Errorf("create api key %s: put item: %w", k.ID, err)
	}
	// A creator that found our hash item older than orphanGrace may have
	// taken it over while we were stalled: then the hash is theirs.
	owner, _, found, err := s.hashOwner(ctx, k.Hash)
	if err != nil {
		return fmt.Errorf("create api key %s: check hash: %w", k.ID, err)
	}
	if !found || owner != k.ID {
		_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(s.table),
			Key:                       apiKeyKeys(k.ID).primary(),
			ConditionExpression:       aws.String("#hash = :h"),
			ExpressionAttributeNames:  map[string]string{"#hash": "hash"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":h": str(k.Hash)},
		})
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("create api key %s: hash taken meanwhile: %w (and undoing the key: %w)", k.ID, store.ErrExists, err)
		}
		return fmt.Errorf("create api key %s: hash taken meanwhile: %w", k.ID, store.ErrExists)
	}
	return nil
}

// claimHash writes the hash item of k on condition that it is absent or
// already names k.ID. An item naming another key blocks the hash while that
// key holds the hash, or for orphanGrace after it was written; after that it
// is an orphan and is replaced on condition that it did not change.
func (s *Store) claimHash(ctx context.Context, k store.APIKey) error {
	for range claimAttempts {
		item, err := itemOf(apiKeyHashKeys(k.Hash), apiKeyHashItem{
			Type: typeAPIKeyHash, Hash: k.Hash, ID: k.ID, WrittenAt: s.now().UnixMilli(),
		})
		if err != nil {
			return err
		}
		_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(s.table),
			Item:                      item,
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR #id = :id"),
			ExpressionAttributeNames:  map[string]string{"#id": "id"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(k.ID)},
		})
		if err == nil {
			return nil
		}
		if !isConditionFailed(err) {
			return fmt.Errorf("claim hash: put item: %w", err)
		}
		owner, writtenAt, found, err := s.hashOwner(ctx, k.Hash)
		if err != nil {
			return fmt.Errorf("claim hash: %w", err)
		}
		if !found {
			continue // deleted meanwhile: try again
		}
		held, found, err := s.getAPIKey(ctx, owner)
		if err != nil {
			return fmt.Errorf("claim hash: %w", err)
		}
		if found && held.Hash == k.Hash {
			return fmt.Errorf("hash belongs to api key %s: %w", owner, store.ErrExists)
		}
		if age := s.now().Sub(time.UnixMilli(writtenAt)); age < orphanGrace {
			return fmt.Errorf("hash held by an unfinished creation of api key %s (%s ago): %w",
				owner, age.Round(time.Millisecond), store.ErrExists)
		}
		// An orphan: take it over unless it changed since we read it.
		_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(s.table),
			Item:                     item,
			ConditionExpression:      aws.String("#id = :owner AND writtenAt = :w"),
			ExpressionAttributeNames: map[string]string{"#id": "id"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":owner": str(owner),
				":w":     &types.AttributeValueMemberN{Value: strconv.FormatInt(writtenAt, 10)},
			},
		})
		if err == nil {
			return nil
		}
		if !isConditionFailed(err) {
			return fmt.Errorf("claim hash: take over orphan of api key %s: %w", owner, err)
		}
	}
	return fmt.Errorf("claim hash: lost %d races: %w", claimAttempts, store.ErrConflict)
}

// releaseHash deletes the hash item if it names id.
func (s *Store) releaseHash(ctx context.Context, hash, id string) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       apiKeyHashKeys(hash).primary(),
		ConditionExpression:       aws.String("#id = :id"),
		ExpressionAttributeNames:  map[string]string{"#id": "id"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(id)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("delete hash item: %w", err)
	}
	return nil
}

// hashOwner reads the hash item: the key id it names and when it was written.
func (s *Store) hashOwner(ctx context.Context, hash string) (id string, writtenAt int64, found bool, err error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            apiKeyHashKeys(hash).primary(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", 0, false, fmt.Errorf("get hash item: %w", err)
	}
	if len(out.Item) == 0 {
		return "", 0, false, nil
	}
	var hi apiKeyHashItem
	if err := attributevalue.UnmarshalMap(out.Item, &hi); err != nil {
		return "", 0, false, fmt.Errorf("decode hash item %s: %w", pkOf(out.Item), err)
	}
	if hi.Type != typeAPIKeyHash || hi.Hash != hash {
		return "", 0, false, fmt.Errorf("decode hash item %s: type %q, hash %q do not match", pkOf(out.Item), hi.Type, hi.Hash)
	}
	return hi.ID, hi.WrittenAt, true, nil
}

// getAPIKey reads a key item with a strongly consistent GetItem.
func (s *Store) getAPIKey(ctx context.Context, id string) (store.APIKey, bool, error) {
	if !channel.ValidID(id) {
		return store.APIKey{}, false, nil
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            apiKeyKeys(id).primary(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return store.APIKey{}, false, fmt.Errorf("get api key %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return store.APIKey{}, false, nil
	}
	k, err := decodeAPIKey(out.Item)
	if err != nil {
		return store.APIKey{}, false, err
	}
	return k, true, nil
}

// APIKeyByHash implements store.APIKeys: the hash item names a key, which
// counts only if it names the hash back (an orphaned hash item finds nothing).
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (store.APIKey, error) {
	if err := s.usable(ctx); err != nil {
		return store.APIKey{}, fmt.Errorf("api key by hash: %w", err)
	}
	if !store.ValidHash(hash) {
		return store.APIKey{}, fmt.Errorf("api key by hash: malformed hash: %w", store.ErrNotFound)
	}
	id, _, found, err := s.hashOwner(ctx, hash)
	if err != nil {
		return store.APIKey{}, fmt.Errorf("api key by hash: %w", err)
	}
	if !found {
		return store.APIKey{}, fmt.Errorf("api key by hash: %w", store.ErrNotFound)
	}
	k, found, err := s.getAPIKey(ctx, id)
	if err != nil {
		return store.APIKey{}, fmt.Errorf("api key by hash: %w", err)
	}
	if !found || k.Hash != hash {
		return store.APIKey{}, fmt.Errorf("api key by hash: hash item names api key %s, which does not hold it: %w", id, store.ErrNotFound)
	}
	return k, nil
}

// ListAPIKeys implements store.APIKeys with a Query of gsi1 (APIKEYS), in
// id order.
func (s *Store) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(gsi1APIKeys)},
		ScanIndexForward:          aws.Bool(true),
	}
	keys := []store.APIKey{}
	for {
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list api keys: query: %w", err)
		}
		for _, item := range out.Items {
			k, err := decodeAPIKey(item)
			if err != nil {
				return nil, fmt.Errorf("list api keys: %w", err)
			}
			keys = append(keys, k)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return keys, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// DeleteAPIKey implements store.APIKeys: it deletes the key item (which
// stops the key at once), then its hash item. A crash between the two leaves
// an orphaned hash item, which authenticates nothing.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("delete api key %s: %w", id, err)
	}
	if !channel.ValidID(id) {
		return fmt.Errorf("delete api key %q: %w", id, store.ErrNotFound)
	}
	out, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 apiKeyKeys(id).primary(),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ReturnValues:        types.ReturnValueAllOld,
	})
	if isConditionFailed(err) {
		return fmt.Errorf("delete api key %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete api key %s: delete item: %w", id, err)
	}
	k, err := decodeAPIKey(out.Attributes)
	if err != nil {
		return fmt.Errorf("delete api key %s: deleted, but its hash item is left: %w", id, err)
	}
	if err := s.releaseHash(ctx, k.Hash, id); err != nil {
		return fmt.Errorf("delete api key %s: deleted, but its hash item is left (harmless): %w", id, err)
	}
	return nil
}
