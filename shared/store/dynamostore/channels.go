package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// channelItem is the non-key part of a channel item.
type channelItem struct {
	Type string `dynamodbav:"type"`
	ID   string `dynamodbav:"id"`
	// Data is the channel's contract JSON.
	Data string `dynamodbav:"data"`
}

// CreateChannel implements store.Store: a PutItem on condition that no item
// has the key.
func (s *Store) CreateChannel(ctx context.Context, c *channel.Channel) error {
	if err := s.putChannel(ctx, c, "attribute_not_exists(pk)", store.ErrExists); err != nil {
		return fmt.Errorf("create channel: %w", err)
	}
	return nil
}

// UpdateChannel implements store.Store: a PutItem on condition that the item
// exists.
func (s *Store) UpdateChannel(ctx context.Context, c *channel.Channel) error {
	if err := s.putChannel(ctx, c, "attribute_exists(pk)", store.ErrNotFound); err != nil {
		return fmt.Errorf("update channel: %w", err)
	}
	return nil
}

func (s *Store) putChannel(ctx context.Context, c *channel.Channel, condition string, onFail error) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("%w: nil channel", store.ErrInvalid)
	}
	if !channel.ValidID(c.ID) {
		return fmt.Errorf("%w: channel id %q is not a valid channel id", store.ErrInvalid, c.ID)
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("channel %s: encode: %w", c.ID, err)
	}
	item, err := itemOf(channelKeys(c.ID), channelItem{Type: typeChannel, ID: c.ID, Data: string(data)})
	if err != nil {
		return fmt.Errorf("channel %s: %w", c.ID, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String(condition),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("channel %s: %w", c.ID, onFail)
	}
	if err != nil {
		return fmt.Errorf("channel %s: put item: %w", c.ID, err)
	}
	return nil
}

// GetChannel implements store.Store with a strongly consistent GetItem.
func (s *Store) GetChannel(ctx context.Context, id string) (*channel.Channel, error) {
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("get channel %s: %w", id, err)
	}
	if !channel.ValidID(id) {
		return nil, fmt.Errorf("get channel %q: %w", id, store.ErrNotFound)
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            channelKeys(id).primary(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get channel %s: get item: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("get channel %s: %w", id, store.ErrNotFound)
	}
	c, err := decodeChannel(out.Item)
	if err != nil {
		return nil, fmt.Errorf("get channel %s: %w", id, err)
	}
	return c, nil
}

// DeleteChannel implements store.Store: a DeleteItem on condition that the
// item exists. The channel's session, if any, is left to expire.
func (s *Store) DeleteChannel(ctx context.Context, id string) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("delete channel %s: %w", id, err)
	}
	if !channel.ValidID(id) {
		return fmt.Errorf("delete channel %q: %w", id, store.ErrNotFound)
	}
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 channelKeys(id).primary(),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("delete channel %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete channel %s: delete item: %w", id, err)
	}
	return nil
}

// ListChannels implements store.Store with a Query of gsi1 (gsi1pk=CHANNELS)
// in id order, from just after the cursor's id (a key condition, so a cursor
// whose channel was deleted still works). It asks for one channel more than
// the page holds, so that Page.Next is empty exactly on the last page.
func (s *Store) ListChannels(ctx context.Context, opts store.ListOptions) (store.Page, error) {
	if err := s.usable(ctx); err != nil {
		return store.Page{}, fmt.Errorf("list channels: %w", err)
	}
	after, err := decodeCursor(opts.Cursor)
	if err != nil {
		return store.Page{}, fmt.Errorf("list channels: %w", err)
	}
	limit := opts.EffectiveLimit()
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(gsi1Channels)},
		ScanIndexForward:          aws.Bool(true),
	}
	if after != "" {
		in.KeyConditionExpression = aws.String("gsi1pk = :p AND gsi1sk > :after")
		in.ExpressionAttributeValues[":after"] = str(after)
	}
	page := store.Page{Channels: []*channel.Channel{}}
	for {
		// Never read more than the page and the one item that shows a next page.
		in.Limit = aws.Int32(int32(limit + 1 - len(page.Channels)))
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return store.Page{}, fmt.Errorf("list channels: query: %w", err)
		}
		for _, item := range out.Items {
			if len(page.Channels) == limit {
				page.Next = encodeCursor(page.Channels[limit-1].ID)
				return page, nil
			}
			c, err := decodeChannel(item)
			if err != nil {
				return store.Page{}, fmt.Errorf("list channels: %w", err)
			}
			page.Channels = append(page.Channels, c)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func decodeChannel(item map[string]types.AttributeValue) (*channel.Channel, error) {
	var ci channelItem
	if err := attributevalue.UnmarshalMap(item, &ci); err != nil {
		return nil, fmt.Errorf("decode channel item %s: %w", pkOf(item), err)
	}
	var c channel.Channel
	if err := json.Unmarshal([]byte(ci.Data), &c); err != nil {
		return nil, fmt.Errorf("decode channel item %s: %w", pkOf(item), err)
	}
	if ci.Type != typeChannel || c.ID != ci.ID || !channel.ValidID(c.ID) {
		return nil, fmt.Errorf("decode channel item %s: type %q, id %q, data id %q do not match",
			pkOf(item), ci.Type, ci.ID, c.ID)
	}
	return &c, nil
}
