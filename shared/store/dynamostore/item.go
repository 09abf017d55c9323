package dynamostore

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/livestack/livestack/shared/store"
)

// MaxItemBytes is DynamoDB's limit on the size of one item (400 KB). Writes
// of larger items are refused with store.ErrInvalid before they are sent.
const MaxItemBytes = 400 * 1024

// itemOf marshals v, adds the key attributes and checks DynamoDB's size
// limits; a value too large to store wraps store.ErrInvalid.
func itemOf(k keys, v any) (map[string]types.AttributeValue, error) {
	if err := k.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, fmt.Errorf("encode item: %w", err)
	}
	for name, av := range k.item() {
		item[name] = av
	}
	if n := itemSize(item); n > MaxItemBytes {
		return nil, fmt.Errorf("%w: item of about %d bytes is larger than DynamoDB's %d", store.ErrInvalid, n, MaxItemBytes)
	}
	return item, nil
}

// itemSize estimates the stored size of an item by DynamoDB's rules
// (attribute names and values in bytes, numbers up to 21 bytes, 3 bytes per
// list or map plus 1 per element). It rounds numbers up to their maximum, so
// it never underestimates an item this package writes. The SDK has no such
// function, hence this one.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return 21
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberNS:
		return 21 * len(v.Value)
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for name, e := range v.Value {
			n += 1 + len(name) + valueSize(e)
		}
		return n
	}
	return 0
}

// pkOf returns an item's partition key for error messages.
func pkOf(item map[string]types.AttributeValue) string {
	if v, ok := item[attrPK].(*types.AttributeValueMemberS); ok {
		return fmt.Sprintf("%q", v.Value)
	}
	return "(no pk)"
}

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

func conditionFailure(err error) *types.ConditionalCheckFailedException {
	var cf *types.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return cf
	}
	return nil
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
