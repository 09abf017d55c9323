package dynamostore

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/livestack/livestack/shared/store"
)

// settingItem is the non-key part of a setting item. An empty value is
// stored as no value attribute.
type settingItem struct {
	Type  string `dynamodbav:"type"`
	Key   string `dynamodbav:"key"`
	Value []byte `dynamodbav:"value,omitempty"`
}

// GetSetting implements store.Store with a strongly consistent GetItem.
func (s *Store) GetSetting(ctx context.Context, key string) ([]byte, error) {
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("get setting %q: %w", key, err)
	}
	if err := validSettingKey(key); err != nil {
		return nil, fmt.Errorf("get setting: %w", err)
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            settingKeys(key).primary(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get setting %q: get item: %w", key, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("get setting %q: %w", key, store.ErrNotFound)
	}
	var si settingItem
	if err := attributevalue.UnmarshalMap(out.Item, &si); err != nil {
		return nil, fmt.Errorf("get setting %q: decode setting item: %w", key, err)
	}
	if si.Type != typeSetting || si.Key != key {
		return nil, fmt.Errorf("get setting %q: decode setting item: type %q, key %q do not match", key, si.Type, si.Key)
	}
	if si.Value == nil {
		return []byte{}, nil
	}
	return si.Value, nil
}

// PutSetting implements store.Store with an unconditional PutItem.
func (s *Store) PutSetting(ctx context.Context, key string, value []byte) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	if err := validSettingKey(key); err != nil {
		return fmt.Errorf("put setting: %w", err)
	}
	if err := store.ValidSettingValue(value); err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	item, err := itemOf(settingKeys(key), settingItem{Type: typeSetting, Key: key, Value: value})
	if err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item})
	if err != nil {
		return fmt.Errorf("put setting %q: put item: %w", key, err)
	}
	return nil
}

// validSettingKey adds this store's rule to store.ValidSettingKey: keys are
// DynamoDB strings, so they must be UTF-8 (other bytes would be replaced and
// two keys could meet).
func validSettingKey(key string) error {
	if err := store.ValidSettingKey(key); err != nil {
		return err
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: setting key is not UTF-8", store.ErrInvalid)
	}
	return nil
}
