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

// Limits of this store on sessions, beyond store.Session.Validate: the
// gateway and the region are part of the gsi2 partition key, which DynamoDB
// limits to 2048 bytes.
const (
	// MaxGatewayLength bounds Session.Gateway.
	MaxGatewayLength = 1024
	// MaxRegionLength bounds Session.Region (AWS region names are about 15).
	MaxRegionLength = 64
)

// sessionItem is the non-key part of a session item.
type sessionItem struct {
	Type      string `dynamodbav:"type"`
	ChannelID string `dynamodbav:"channelId"`
	SessionID string `dynamodbav:"sessionId"`
	Gateway   string `dynamodbav:"gateway"`
	Region    string `dynamodbav:"region,omitempty"`
	// StartedAt and ExpiresAt are epoch milliseconds.
	StartedAt int64 `dynamodbav:"startedAt"`
	ExpiresAt int64 `dynamodbav:"expiresAt"`
	// TTL is ExpiresAt in epoch seconds, rounded up: DynamoDB deletes the item
	// some time (up to days) after it.
	TTL int64 `dynamodbav:"ttl"`
}

func newSessionItem(s store.Session) sessionItem {
	exp := s.ExpiresAt.UnixMilli()
	return sessionItem{
		Type:      typeSession,
		ChannelID: s.ChannelID,
		SessionID: s.SessionID,
		Gateway:   s.Gateway,
		Region:    s.Region,
		StartedAt: s.StartedAt.UnixMilli(),
		ExpiresAt: exp,
		TTL:       ceilDiv(exp, 1000),
	}
}

func (si sessionItem) session() store.Session {
	return store.Session{
		ChannelID: si.ChannelID,
		SessionID: si.SessionID,
		Gateway:   si.Gateway,
		Region:    si.Region,
		StartedAt: time.UnixMilli(si.StartedAt).UTC(),
		ExpiresAt: time.UnixMilli(si.ExpiresAt).UTC(),
	}
}

// AcquireSession implements store.Store with one conditional PutItem: the
// write succeeds if the channel has no session item, if the stored lease has
// ended by the store's clock, or if the stored session has the same id.
func (s *Store) AcquireSession(ctx context.Context, sess store.Session) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("acquire session of channel %s: %w", sess.ChannelID, err)
	}
	if err := validSession(sess); err != nil {
		return fmt.Errorf("acquire session: %w", err)
	}
	item, err := itemOf(sessionKeys(sess.ChannelID, sess.Region, sess.Gateway), newSessionItem(sess))
	if err != nil {
		return fmt.Errorf("acquire session of channel %s: %w", sess.ChannelID, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item:      item,
		ConditionExpression: aws.String("attribute_not_exists(pk) OR attribute_not_exists(expiresAt)" +
			" OR expiresAt <= :now OR sessionId = :sid"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.now().UnixMilli(), 10)},
			":sid": &types.AttributeValueMemberS{Value: sess.SessionID},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if cf := conditionFailure(err); cf != nil {
		return fmt.Errorf("acquire session of channel %s: %w%s", sess.ChannelID, store.ErrLive, holder(cf.Item))
	}
	if err != nil {
		return fmt.Errorf("acquire session of channel %s: put item: %w", sess.ChannelID, err)
	}
	return nil
}

// holder describes the session that refused an acquire, when DynamoDB
// returned it.
func holder(item map[string]types.AttributeValue) string {
	if len(item) == 0 {
		return ""
	}
	var si sessionItem
	if err := attributevalue.UnmarshalMap(item, &si); err != nil {
		return ""
	}
	return fmt.Sprintf(": session %s on gateway %s (%s) until %s", si.SessionID, si.Gateway,
		si.Region, time.UnixMilli(si.ExpiresAt).UTC().Format(time.RFC3339))
}

// ReleaseSession implements store.Store: a DeleteItem on condition that the
// stored session id is sessionID; a failed condition is the documented no-op.
func (s *Store) ReleaseSession(ctx context.Context, channelID, sessionID string) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("release session of channel %s: %w", channelID, err)
	}
	if !channel.ValidID(channelID) || sessionID == "" {
		return nil
	}
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 sessionKeys(channelID, "", "").primary(),
		ConditionExpression: aws.String("sessionId = :sid"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":sid": &types.AttributeValueMemberS{Value: sessionID},
		},
	})
	if isConditionFailed(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release session %s of channel %s: delete item: %w", sessionID, channelID, err)
	}
	return nil
}

// GetSession implements store.Store with a strongly consistent GetItem; an
// expired session that TTL has not deleted yet is ErrNotFound.
func (s *Store) GetSession(ctx context.Context, channelID string) (store.Session, error) {
	if err := s.usable(ctx); err != nil {
		return store.Session{}, fmt.Errorf("get session of channel %s: %w", channelID, err)
	}
	if !channel.ValidID(channelID) {
		return store.Session{}, fmt.Errorf("get session of channel %q: %w", channelID, store.ErrNotFound)
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            sessionKeys(channelID, "", "").primary(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return store.Session{}, fmt.Errorf("get session of channel %s: get item: %w", channelID, err)
	}
	if len(out.Item) == 0 {
		return store.Session{}, fmt.Errorf("get session of channel %s: %w", channelID, store.ErrNotFound)
	}
	sess, err := decodeSession(out.Item)
	if err != nil {
		return store.Session{}, fmt.Errorf("get session of channel %s: %w", channelID, err)
	}
	if !sess.Active(s.now()) {
		return store.Session{}, fmt.Errorf("get session of channel %s: lease ended %s: %w",
			channelID, sess.ExpiresAt.Format(time.RFC3339), store.ErrNotFound)
	}
	return sess, nil
}

// ListSessions implements store.Store with a Query of gsi1
// (gsi1pk=SESSIONS), in channel id order, skipping expired sessions.
func (s *Store) ListSessions(ctx context.Context) ([]store.Session, error) {
	sessions, err := s.querySessions(ctx, indexGSI1, attrGSI1PK, gsi1Sessions)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return sessions, nil
}

// SessionsOnGateway returns the unexpired sessions held by the gateway at
// address in region, in channel id order, with a Query of gsi2
// (gsi2pk=GATEWAY#{region}#{address}): what a gateway holds when it starts
// again, or what to clean up after one is gone. Private addresses may repeat
// across regions, hence the region (empty for sessions stored without one).
// It is not part of store.Store.
func (s *Store) SessionsOnGateway(ctx context.Context, region, address string) ([]store.Session, error) {
	sessions, err := s.querySessions(ctx, indexGSI2, attrGSI2PK, gatewayPartition(region, address))
	if err != nil {
		return nil, fmt.Errorf("sessions on gateway %s (%s): %w", address, region, err)
	}
	return sessions, nil
}

func (s *Store) querySessions(ctx context.Context, index, hashAttr, hashValue string) ([]store.Session, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	now := s.now()
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		IndexName:              aws.String(index),
		KeyConditionExpression: aws.String(hashAttr + " = :p"),
		// Leave out what TTL has not deleted yet; checked again below.
		FilterExpression: aws.String("expiresAt > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p":   &types.AttributeValueMemberS{Value: hashValue},
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
		},
		ScanIndexForward: aws.Bool(true),
	}
	sessions := []store.Session{}
	for {
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", index, err)
		}
		for _, item := range out.Items {
			sess, err := decodeSession(item)
			if err != nil {
				return nil, err
			}
			if sess.Active(now) {
				sessions = append(sessions, sess)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return sessions, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func decodeSession(item map[string]types.AttributeValue) (store.Session, error) {
	var si sessionItem
	if err := attributevalue.UnmarshalMap(item, &si); err != nil {
		return store.Session{}, fmt.Errorf("decode session item %s: %w", pkOf(item), err)
	}
	if si.Type != typeSession || !channel.ValidID(si.ChannelID) || si.SessionID == "" || si.ExpiresAt == 0 {
		return store.Session{}, fmt.Errorf("decode session item %s: not a session (type %q, channel %q, session %q, expiresAt %d)",
			pkOf(item), si.Type, si.ChannelID, si.SessionID, si.ExpiresAt)
	}
	return si.session(), nil
}

// validSession adds this store's limits to Session.Validate.
func validSession(s store.Session) error {
	if err := s.Validate(); err != nil {
		return err
	}
	switch {
	case len(s.Gateway) > MaxGatewayLength:
		return fmt.Errorf("%w: gateway address is %d bytes, more than %d", store.ErrInvalid, len(s.Gateway), MaxGatewayLength)
	case len(s.Region) > MaxRegionLength:
		return fmt.Errorf("%w: region is %d bytes, more than %d", store.ErrInvalid, len(s.Region), MaxRegionLength)
	case !utf8.ValidString(s.Gateway) || !utf8.ValidString(s.SessionID) || !utf8.ValidString(s.Region):
		return fmt.Errorf("%w: session id, gateway and region must be UTF-8", store.ErrInvalid)
	case s.ExpiresAt.UnixMilli() <= s.StartedAt.UnixMilli():
		return fmt.Errorf("%w: session lease is shorter than a millisecond", store.ErrInvalid)
	}
	return nil
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}
