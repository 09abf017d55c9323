package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/livestack/livestack/shared/store"
)

var _ store.WorkerTasks = (*Store)(nil)

const (
	// skWorkerPrefix: a worker task shares its channel's partition, sorted
	// after the channel and session items ("WORKER#{broadcastId}").
	skWorkerPrefix = "WORKER#"
	typeWorkerTask = "workertask"
)

func workerTaskKeys(channelID, broadcastID string) keys {
	return keys{PK: prefixChannel + channelID, SK: skWorkerPrefix + broadcastID}
}

// workerTaskItem is the non-key part of a worker task item; times are epoch
// milliseconds, ttl epoch seconds (DynamoDB deletes the item after it).
type workerTaskItem struct {
	Type        string `dynamodbav:"type"`
	ChannelID   string `dynamodbav:"channelId"`
	BroadcastID string `dynamodbav:"broadcastId"`
	State       string `dynamodbav:"state"`
	Handle      string `dynamodbav:"handle,omitempty"`
	Gateway     string `dynamodbav:"gateway,omitempty"`
	Size        string `dynamodbav:"size,omitempty"`
	Spot        bool   `dynamodbav:"spot,omitempty"`
	Starts      int    `dynamodbav:"starts"`
	Version     int64  `dynamodbav:"version"`
	UpdatedAt   int64  `dynamodbav:"updatedAt"`
	ExpiresAt   int64  `dynamodbav:"expiresAt,omitempty"`
	TTL         int64  `dynamodbav:"ttl,omitempty"`
}

func newWorkerTaskItem(t store.WorkerTask) workerTaskItem {
	it := workerTaskItem{
		Type: typeWorkerTask, ChannelID: t.ChannelID, BroadcastID: t.BroadcastID, State: t.State,
		Handle: t.Handle, Gateway: t.Gateway, Size: t.Size, Spot: t.Spot, Starts: t.Starts,
		Version: t.Version, UpdatedAt: t.UpdatedAt.UnixMilli(),
	}
	if !t.ExpiresAt.IsZero() {
		it.ExpiresAt = t.ExpiresAt.UnixMilli()
		it.TTL = ceilDiv(it.ExpiresAt, 1000)
	}
	return it
}

func (it workerTaskItem) task() store.WorkerTask {
	t := store.WorkerTask{
		ChannelID: it.ChannelID, BroadcastID: it.BroadcastID, State: it.State, Handle: it.Handle,
		Gateway: it.Gateway, Size: it.Size, Spot: it.Spot, Starts: it.Starts, Version: it.Version,
		UpdatedAt: time.UnixMilli(it.UpdatedAt).UTC(),
	}
	if it.ExpiresAt != 0 {
		t.ExpiresAt = time.UnixMilli(it.ExpiresAt).UTC()
	}
	return t
}

// CreateWorkerTask implements store.WorkerTasks with a PutItem on condition
// that the item does not exist.
func (s *Store) CreateWorkerTask(ctx context.Context, t store.WorkerTask) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("create worker task: %w", err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("create worker task: %w", err)
	}
	t.Version = 1
	item, err := itemOf(workerTaskKeys(t.ChannelID, t.BroadcastID), newWorkerTaskItem(t))
	if err != nil {
		return fmt.Errorf("create worker task %s/%s: %w", t.ChannelID, t.BroadcastID, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("create worker task %s/%s: %w", t.ChannelID, t.BroadcastID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create worker task %s/%s: put item: %w", t.ChannelID, t.BroadcastID, err)
	}
	return nil
}

// GetWorkerTask implements store.WorkerTasks with a strongly consistent GetItem.
func (s *Store) GetWorkerTask(ctx context.Context, channelID, broadcastID string) (store.WorkerTask, error) {
	if err := s.usable(ctx); err != nil {
		return store.WorkerTask{}, fmt.Errorf("get worker task: %w", err)
	}
	k := workerTaskKeys(channelID, broadcastID)
	if err := k.check(); err != nil || broadcastID == "" {
		return store.WorkerTask{}, fmt.Errorf("get worker task %s/%s: %w", channelID, broadcastID, store.ErrNotFound)
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: k.primary(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return store.WorkerTask{}, fmt.Errorf("get worker task %s/%s: %w", channelID, broadcastID, err)
	}
	if len(out.Item) == 0 {
		return store.WorkerTask{}, fmt.Errorf("get worker task %s/%s: %w", channelID, broadcastID, store.ErrNotFound)
	}
	var it workerTaskItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return store.WorkerTask{}, fmt.Errorf("get worker task %s/%s: decode: %w", channelID, broadcastID, err)
	}
	if it.Type != typeWorkerTask {
		return store.WorkerTask{}, fmt.Errorf("get worker task %s/%s: item of type %q", channelID, broadcastID, it.Type)
	}
	return it.task(), nil
}

// UpdateWorkerTask implements store.WorkerTasks with a PutItem on condition
// that the stored version is t.Version.
func (s *Store) UpdateWorkerTask(ctx context.Context, t store.WorkerTask) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("update worker task: %w", err)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("update worker task: %w", err)
	}
	prev := t.Version
	t.Version++
	item, err := itemOf(workerTaskKeys(t.ChannelID, t.BroadcastID), newWorkerTaskItem(t))
	if err != nil {
		return fmt.Errorf("update worker task %s/%s: %w", t.ChannelID, t.BroadcastID, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression:       aws.String("version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(prev, 10)}},
	})
	if isConditionFailed(err) {
		// Tell a missing item from a newer one (emulators may not return the
		// old item on a failed condition, so ask).
		if _, gerr := s.GetWorkerTask(ctx, t.ChannelID, t.BroadcastID); errors.Is(gerr, store.ErrNotFound) {
			return fmt.Errorf("update worker task %s/%s: %w", t.ChannelID, t.BroadcastID, store.ErrNotFound)
		}
		return fmt.Errorf("update worker task %s/%s: version %d: %w", t.ChannelID, t.BroadcastID, prev, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update worker task %s/%s: put item: %w", t.ChannelID, t.BroadcastID, err)
	}
	return nil
}
