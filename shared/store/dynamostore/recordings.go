package dynamostore

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// recordingItem is the non-key part of a recording item. Times are RFC 3339
// with nanoseconds, in UTC.
type recordingItem struct {
	Type           string `dynamodbav:"type"`
	ID             string `dynamodbav:"id"`
	ChannelID      string `dynamodbav:"channelId"`
	Kind           string `dynamodbav:"kind"`
	Status         string `dynamodbav:"status"`
	BroadcastID    string `dynamodbav:"broadcastId,omitempty"`
	StartedAt      string `dynamodbav:"startedAt"`
	EndedAt        string `dynamodbav:"endedAt,omitempty"`
	DurationMillis int64  `dynamodbav:"durationMillis"`
	Bytes          int64  `dynamodbav:"bytes"`
	Prefix         string `dynamodbav:"prefix,omitempty"`
	// Keys is absent for a nil Recording.Keys. With KeysRelative, each key is
	// stored without Prefix, which every key then starts with.
	Keys         []string `dynamodbav:"keys,omitempty"`
	KeysRelative bool     `dynamodbav:"keysRelative,omitempty"`
	Playlist     string   `dynamodbav:"playlist,omitempty"`
	Region       string   `dynamodbav:"region,omitempty"`
	UpdatedAt    string   `dynamodbav:"updatedAt"`
}

// attrKeys is the attribute holding a recording's keys (see recordingItemOf).
const attrKeys = "keys"

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

func newRecordingItem(r *store.Recording) recordingItem {
	ri := recordingItem{
		Type: typeRecording, ID: r.ID, ChannelID: r.ChannelID, Kind: r.Kind, Status: r.Status,
		BroadcastID: r.BroadcastID, StartedAt: formatTime(r.StartedAt),
		DurationMillis: r.DurationMillis, Bytes: r.Bytes, Prefix: r.Prefix,
		Playlist: r.Playlist, Region: r.Region, UpdatedAt: formatTime(r.UpdatedAt),
	}
	if r.EndedAt != nil {
		ri.EndedAt = formatTime(*r.EndedAt)
	}
	ri.Keys, ri.KeysRelative = relativeKeys(r.Prefix, r.Keys)
	return ri
}

// relativeKeys strips prefix from every key when every key is longer than it
// and starts with it: recordings list up to store.MaxRecordingKeys files that
// usually share a long prefix, and the item must stay under 400 KB.
func relativeKeys(prefix string, keys []string) ([]string, bool) {
	if prefix == "" || len(keys) == 0 {
		return keys, false
	}
	for _, k := range keys {
		if len(k) <= len(prefix) || !strings.HasPrefix(k, prefix) {
			return keys, false
		}
	}
	rel := make([]string, len(keys))
	for i, k := range keys {
		rel[i] = k[len(prefix):]
	}
	return rel, true
}

func (ri recordingItem) recording() (*store.Recording, error) {
	r := &store.Recording{
		ID: ri.ID, ChannelID: ri.ChannelID, Kind: ri.Kind, Status: ri.Status,
		BroadcastID: ri.BroadcastID, DurationMillis: ri.DurationMillis, Bytes: ri.Bytes,
		Prefix: ri.Prefix, Playlist: ri.Playlist, Region: ri.Region,
	}
	var err error
	if r.StartedAt, err = parseTime(ri.StartedAt); err != nil {
		return nil, fmt.Errorf("startedAt: %w", err)
	}
	if r.UpdatedAt, err = parseTime(ri.UpdatedAt); err != nil {
		return nil, fmt.Errorf("updatedAt: %w", err)
	}
	if ri.EndedAt != "" {
		end, err := parseTime(ri.EndedAt)
		if err != nil {
			return nil, fmt.Errorf("endedAt: %w", err)
		}
		r.EndedAt = &end
	}
	if ri.Keys != nil {
		r.Keys = make([]string, len(ri.Keys))
		for i, k := range ri.Keys {
			if ri.KeysRelative {
				k = ri.Prefix + k
			}
			r.Keys[i] = k
		}
	}
	return r, nil
}

// recordingItemOf builds the whole item. An empty, non-nil Keys is stored as
// an empty list (omitempty would drop it), so that nil and empty survive.
func recordingItemOf(r *store.Recording) (map[string]types.AttributeValue, error) {
	item, err := itemOf(recordingKeys(r.ID, r.ChannelID, r.StartedAt), newRecordingItem(r))
	if err != nil {
		return nil, err
	}
	if r.Keys != nil && len(r.Keys) == 0 {
		item[attrKeys] = &types.AttributeValueMemberL{Value: []types.AttributeValue{}}
	}
	return item, nil
}

// validRecording adds this store's limits to Recording.Validate: the start
// time must format to a fixed-width sort key, and strings must be UTF-8.
func validRecording(r *store.Recording) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if y := r.StartedAt.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: recording startedAt year %d is outside 1-9999", store.ErrInvalid, y)
	}
	strs := append([]string{r.BroadcastID, r.Prefix, r.Playlist, r.Region}, r.Keys...)
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: recording strings must be UTF-8", store.ErrInvalid)
		}
	}
	return nil
}

// PutRecording implements store.Recordings with an unconditional PutItem;
// DynamoDB moves the item's entries in both indexes with it.
func (s *Store) PutRecording(ctx context.Context, r *store.Recording) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("put recording: %w", err)
	}
	if err := validRecording(r); err != nil {
		return fmt.Errorf("put recording: %w", err)
	}
	item, err := recordingItemOf(r)
	if err != nil {
		return fmt.Errorf("put recording %s: %w", r.ID, err)
	}
	if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("put recording %s: put item: %w", r.ID, err)
	}
	return nil
}

// GetRecording implements store.Recordings with a strongly consistent GetItem.
func (s *Store) GetRecording(ctx context.Context, id string) (*store.Recording, error) {
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("get recording %s: %w", id, err)
	}
	if !channel.ValidID(id) {
		return nil, fmt.Errorf("get recording %q: %w", id, store.ErrNotFound)
	}
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            recordingKeys(id, "", time.Time{}).primary(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get recording %s: get item: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("get recording %s: %w", id, store.ErrNotFound)
	}
	r, err := decodeRecording(out.Item)
	if err != nil {
		return nil, fmt.Errorf("get recording %s: %w", id, err)
	}
	return r, nil
}

// DeleteRecording implements store.Recordings: a DeleteItem on condition
// that the item exists.
func (s *Store) DeleteRecording(ctx context.Context, id string) error {
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("delete recording %s: %w", id, err)
	}
	if !channel.ValidID(id) {
		return fmt.Errorf("delete recording %q: %w", id, store.ErrNotFound)
	}
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(s.table),
		Key:                 recordingKeys(id, "", time.Time{}).primary(),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("delete recording %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete recording %s: delete item: %w", id, err)
	}
	return nil
}

// Bounds of the sort keys recordings can have (validRecording keeps start
// years within 1-9999).
var (
	minRecordingYear = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxRecordingTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ListRecordings implements store.Recordings with a backwards Query of gsi1
// (RECORDINGS#{channel}) or, for every channel, gsi2 (RECORDINGS). The sort
// key condition is gsi?sk BETWEEN {since} AND min({until}, cursor position):
// a bare time sorts before every position at that time, so Since is
// inclusive and Until exclusive; the cursor's own recording, equal to the
// upper bound, is skipped. A Kind is a filter. It reads one recording more
// than the page holds, so that Next is empty exactly on the last page.
func (s *Store) ListRecordings(ctx context.Context, q store.RecordingQuery) (store.RecordingPage, error) {
	if err := s.usable(ctx); err != nil {
		return store.RecordingPage{}, fmt.Errorf("list recordings: %w", err)
	}
	index, pkAttr, skAttr, partition := indexGSI2, attrGSI2PK, attrGSI2SK, gsi2Recordings
	if q.ChannelID != "" {
		index, pkAttr, skAttr, partition = indexGSI1, attrGSI1PK, attrGSI1SK, prefixChannelRec+q.ChannelID
	}
	after, err := decodeRecCursor(q.Cursor, partition)
	if err != nil {
		return store.RecordingPage{}, fmt.Errorf("list recordings: %w", err)
	}
	page := store.RecordingPage{Recordings: []*store.Recording{}}
	if q.ChannelID != "" && !channel.ValidID(q.ChannelID) {
		return page, nil // no recording can have it
	}

	var lower, upper string
	if !q.Since.IsZero() && q.Since.After(minRecordingYear) {
		if !q.Since.Before(maxRecordingTime) {
			return page, nil
		}
		lower = sortTime(q.Since)
	}
	if !q.Until.IsZero() && q.Until.Before(maxRecordingTime) {
		if !q.Until.After(minRecordingYear) {
			return page, nil
		}
		upper = sortTime(q.Until)
	}
	if after != "" && (upper == "" || after < upper) {
		upper = after
	}
	names := map[string]string{"#pk": pkAttr, "#sk": skAttr}
	values := map[string]types.AttributeValue{":p": str(partition)}
	cond := "#pk = :p"
	switch {
	case lower != "" && upper != "":
		if lower > upper {
			return page, nil
		}
		cond += " AND #sk BETWEEN :l AND :u"
		values[":l"], values[":u"] = str(lower), str(upper)
	case lower != "":
		cond += " AND #sk >= :l"
		values[":l"] = str(lower)
	case upper != "":
		cond += " AND #sk <= :u"
		values[":u"] = str(upper)
	default:
		delete(names, "#sk")
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		IndexName:              aws.String(index),
		KeyConditionExpression: aws.String(cond),
		ScanIndexForward:       aws.Bool(false),
	}
	if q.Kind != "" {
		in.FilterExpression = aws.String("#kind = :k")
		names["#kind"] = "kind"
		values[":k"] = str(q.Kind)
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = names, values

	limit := q.EffectiveLimit()
	for {
		want := limit + 1 - len(page.Recordings)
		if q.Kind != "" {
			// Limit counts items read before the filter: read ahead.
			want = min(store.MaxListLimit, 4*want)
		}
		in.Limit = aws.Int32(int32(want + 1)) // +1: the cursor's own item
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return store.RecordingPage{}, fmt.Errorf("list recordings: query %s: %w", index, err)
		}
		for _, item := range out.Items {
			r, err := decodeRecording(item)
			if err != nil {
				return store.RecordingPage{}, fmt.Errorf("list recordings: %w", err)
			}
			if recordingPosition(r.StartedAt, r.ID) == after {
				continue
			}
			if len(page.Recordings) == limit {
				last := page.Recordings[limit-1]
				page.Next = encodeRecCursor(partition, recordingPosition(last.StartedAt, last.ID))
				return page, nil
			}
			page.Recordings = append(page.Recordings, r)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func decodeRecording(item map[string]types.AttributeValue) (*store.Recording, error) {
	var ri recordingItem
	if err := attributevalue.UnmarshalMap(item, &ri); err != nil {
		return nil, fmt.Errorf("decode recording item %s: %w", pkOf(item), err)
	}
	if ri.Type != typeRecording || !channel.ValidID(ri.ID) {
		return nil, fmt.Errorf("decode recording item %s: not a recording (type %q, id %q)", pkOf(item), ri.Type, ri.ID)
	}
	r, err := ri.recording()
	if err != nil {
		return nil, fmt.Errorf("decode recording item %s: %w", pkOf(item), err)
	}
	return r, nil
}
