package dynamostore

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the table (terraform/modules/metadata declares the key
// attributes among them).
const (
	attrPK     = "pk"
	attrSK     = "sk"
	attrGSI1PK = "gsi1pk"
	attrGSI1SK = "gsi1sk"
	attrGSI2PK = "gsi2pk"
	attrGSI2SK = "gsi2sk"
	attrTTL    = "ttl"
)

// Index names.
const (
	indexGSI1 = "gsi1"
	indexGSI2 = "gsi2"
)

// Key values. A partition prefix names the entity; the sort key of an item
// that is alone in its partition is the entity's name.
const (
	prefixChannel    = "CHANNEL#"
	prefixSetting    = "SETTING#"
	prefixRecording  = "RECORDING#"
	prefixAPIKey     = "APIKEY#"
	prefixAPIKeyHash = "APIKEYHASH#"
	prefixGateway    = "GATEWAY#"
	prefixChannelRec = "RECORDINGS#"

	skChannel    = "CHANNEL"
	skSession    = "SESSION"
	skSetting    = "SETTING"
	skRecording  = "RECORDING"
	skAPIKey     = "APIKEY"
	skAPIKeyHash = "APIKEYHASH"

	gsi1Channels   = "CHANNELS"
	gsi1Sessions   = "SESSIONS"
	gsi1APIKeys    = "APIKEYS"
	gsi2Recordings = "RECORDINGS"
)

// Item types, stored in the attribute "type" so that decoders can tell an
// item from another and people can read the table.
const (
	typeChannel    = "channel"
	typeSession    = "session"
	typeSetting    = "setting"
	typeRecording  = "recording"
	typeAPIKey     = "apikey"
	typeAPIKeyHash = "apikeyhash"
)

// keys are the key attributes of one item; empty index keys are left out
// (both indexes are sparse).
type keys struct {
	PK, SK         string
	GSI1PK, GSI1SK string
	GSI2PK, GSI2SK string
}

func channelKeys(id string) keys {
	return keys{PK: prefixChannel + id, SK: skChannel, GSI1PK: gsi1Channels, GSI1SK: id}
}

// sessionKeys: a session shares its channel's partition, so the live session
// of a channel is one GetItem and cannot exist twice.
func sessionKeys(channelID, region, gateway string) keys {
	return keys{
		PK: prefixChannel + channelID, SK: skSession,
		GSI1PK: gsi1Sessions, GSI1SK: channelID,
		GSI2PK: gatewayPartition(region, gateway), GSI2SK: channelID,
	}
}

// gatewayPartition is the gsi2 partition of the sessions one gateway holds.
// Gateways are named by private address, which may repeat across regions,
// hence the region. The region is the gateway's, an attribute of the
// session, not the region of the replica that wrote the item: the key is
// the same in every replica of a global table.
func gatewayPartition(region, gateway string) string {
	return prefixGateway + region + "#" + gateway
}

func settingKeys(key string) keys {
	return keys{PK: prefixSetting + key, SK: skSetting}
}

// recordingKeys: a recording is its own partition (GetRecording has only the
// id) and appears in two indexes: its channel's recordings by time (gsi1) and
// every recording by time (gsi2). Replacing the item moves both index
// entries, so a recording whose start time changes leaves nothing behind.
func recordingKeys(id, channelID string, startedAt time.Time) keys {
	pos := recordingPosition(startedAt, id)
	return keys{
		PK: prefixRecording + id, SK: skRecording,
		GSI1PK: prefixChannelRec + channelID, GSI1SK: pos,
		GSI2PK: gsi2Recordings, GSI2SK: pos,
	}
}

func apiKeyKeys(id string) keys {
	return keys{PK: prefixAPIKey + id, SK: skAPIKey, GSI1PK: gsi1APIKeys, GSI1SK: id}
}

func apiKeyHashKeys(hash string) keys {
	return keys{PK: prefixAPIKeyHash + hash, SK: skAPIKeyHash}
}

// sortTimeLayout formats times in index sort keys: fixed width, UTC, so that
// byte order is time order for years 0000-9999 (validRecording refuses
// others). People reading the table see a date.
const sortTimeLayout = "2006-01-02T15:04:05.000000000Z"

// recordingPosition is a recording's sort key in both recording indexes:
// "{startedAt}#{id}". '#' sorts before every byte an id may hold, so the
// order is by time, then by id; queried backwards it is the port's order
// (newest first, ties by id descending). A bare time sorts before every
// position at that time, which is how Since and Until bound a query.
func recordingPosition(startedAt time.Time, id string) string {
	return sortTime(startedAt) + "#" + id
}

func sortTime(t time.Time) string { return t.UTC().Format(sortTimeLayout) }

// primary returns the table key of the item, for GetItem and DeleteItem.
func (k keys) primary() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: k.PK},
		attrSK: &types.AttributeValueMemberS{Value: k.SK},
	}
}

// item returns every non-empty key attribute, to be merged into an item.
func (k keys) item() map[string]types.AttributeValue {
	m := k.primary()
	for name, v := range map[string]string{
		attrGSI1PK: k.GSI1PK, attrGSI1SK: k.GSI1SK,
		attrGSI2PK: k.GSI2PK, attrGSI2SK: k.GSI2SK,
	} {
		if v != "" {
			m[name] = &types.AttributeValueMemberS{Value: v}
		}
	}
	return m
}

// DynamoDB's limits on key attribute values, in bytes.
const (
	maxPartitionKeyBytes = 2048
	maxSortKeyBytes      = 1024
)

// check verifies the key sizes; every key this package builds from validated
// input fits, so a failure is a bug or an unchecked argument.
func (k keys) check() error {
	for _, pk := range []string{k.PK, k.GSI1PK, k.GSI2PK} {
		if len(pk) > maxPartitionKeyBytes {
			return fmt.Errorf("partition key of %d bytes is longer than %d", len(pk), maxPartitionKeyBytes)
		}
	}
	for _, sk := range []string{k.SK, k.GSI1SK, k.GSI2SK} {
		if len(sk) > maxSortKeyBytes {
			return fmt.Errorf("sort key of %d bytes is longer than %d", len(sk), maxSortKeyBytes)
		}
	}
	return nil
}
