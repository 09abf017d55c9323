// Package dynamostore implements store.Store on Amazon DynamoDB
// (aws-sdk-go-v2) for the one table terraform/modules/metadata creates:
// string keys pk and sk, two generic global secondary indexes gsi1 (gsi1pk,
// gsi1sk) and gsi2 (gsi2pk, gsi2sk) projecting every attribute, TTL on the
// numeric attribute ttl, streams on (NEW_AND_OLD_IMAGES, for global tables).
// That module declares the attributes; this package owns the key layout
// (TableInput builds the same table for tests and development, and a test
// compares the two):
//
//	item         pk                 sk          gsi1pk               gsi1sk          gsi2pk                       gsi2sk
//	channel      CHANNEL#{id}       CHANNEL     CHANNELS             {id}            -                            -
//	session      CHANNEL#{channel}  SESSION     SESSIONS             {channel}       GATEWAY#{region}#{address}   {channel}
//	recording    RECORDING#{id}     RECORDING   RECORDINGS#{channel} {start}#{id}    RECORDINGS                   {start}#{id}
//	api key      APIKEY#{id}        APIKEY      APIKEYS              {id}            -                            -
//	key by hash  APIKEYHASH#{hash}  APIKEYHASH  -                    -               -                            -
//	setting      SETTING#{key}      SETTING     -                    -               -                            -
//
// {start} is the recording's StartedAt in UTC, fixed width with nanoseconds
// ("2025-03-01T10:00:00.000000000Z"), so byte order is time order.
//
// Access patterns (GetItem reads are strongly consistent; index reads are
// eventually consistent, so on AWS a write may take a moment, usually well
// under a second, to show in a list):
//   - channel by id: GetItem CHANNEL#{id}/CHANNEL.
//   - channels page, by id: Query gsi1 CHANNELS, gsi1sk > the cursor's id.
//   - live session of a channel: GetItem CHANNEL#{id}/SESSION. It shares the
//     channel's partition; there is one session item per channel, so two
//     live sessions of one channel cannot exist.
//   - every live session, by channel id: Query gsi1 SESSIONS.
//   - live sessions held by one gateway: Query gsi2
//     GATEWAY#{region}#{address} (Store.SessionsOnGateway, not in the port).
//   - recording by id: GetItem RECORDING#{id}/RECORDING.
//   - recordings of a channel, newest first, optionally within [Since,
//     Until): Query gsi1 RECORDINGS#{channel} backwards, gsi1sk BETWEEN
//     {since} AND {until or cursor position}.
//   - recordings of every channel by time: the same on gsi2 RECORDINGS.
//     A Kind filter is a FilterExpression (it costs reads of the other kinds).
//   - api key by hash: GetItem APIKEYHASH#{hash}, then GetItem of the key it
//     names; api keys by id: Query gsi1 APIKEYS.
//   - setting: GetItem SETTING#{key}/SETTING.
//
// Constant index partitions (CHANNELS, SESSIONS, APIKEYS, RECORDINGS) keep
// the lists exact and simple. Each takes up to about 1,000 writes of 1 KB a
// second (one index partition); the busiest are SESSIONS (one write per lease
// renewal of every live channel) and RECORDINGS (one per recording update).
// Past that, the remedy is write sharding of those two partitions with a
// merge on read.
//
// Global tables: no key holds anything that depends on the replica that wrote
// it, so the layout works unchanged in a multi-region table. A session
// records the region of its gateway (attribute region, and in gsi2pk,
// because private gateway addresses can repeat across regions); recordings
// record theirs too.
//
// No transactions (dynalite, the emulator the tests use, has none; and
// conditional single-item writes are cheaper). What needs more than one item
// is made safe against a crash between its writes:
//   - AcquireSession is one conditional PutItem: it succeeds if the channel has
//     no session item, if the stored lease has ended (expiresAt <= now, the
//     writer's clock; gateways must keep their clocks in sync, which NTP on
//     AWS does), or if the stored session has the same session id. Within a
//     region that is atomic against every gateway. A global table replicates
//     last-writer-wins and evaluates conditions in the local region only, so
//     two regions can each accept a publish of one channel within the
//     replication lag (about a second); the push domain must send one
//     channel's publishes to one region.
//   - CreateAPIKey first writes the hash item (condition: absent, or already
//     naming this key id), then the key item (condition: absent). APIKeyByHash
//     reads both and answers only when the key item names the hash back, so a
//     hash item left by a crash between the two writes (or between the two
//     deletes of DeleteAPIKey) authenticates nothing. Such an orphan blocks
//     its hash for orphanGrace; after that (or at once for a retry with the
//     same key id) CreateAPIKey takes it over. After writing the key item,
//     CreateAPIKey reads the hash item back and undoes its key if a concurrent
//     creator took the hash over meanwhile.
//
// Items: channels are their contract JSON (package channel) in the string
// attribute data, as the embedded store keeps them, so nil pointers and zero
// values survive and a new model field needs no change here. Sessions are
// plain attributes with startedAt and expiresAt in epoch milliseconds
// (numbers, so conditions compare them) and ttl in epoch seconds: DynamoDB
// deletes the item some time (up to a few days) after it, so every read
// filters expired sessions itself. Recordings are plain attributes with
// RFC 3339 times; their blob keys are stored relative to the recording's
// prefix when they all share it (keysRelative), which keeps a recording of
// 2,000 files around 30 KB. Setting values are a binary attribute. Every item
// has a type attribute. Writes larger than DynamoDB's 400 KB item limit (or
// its key length limits) are refused with store.ErrInvalid before they are
// sent. Setting keys, session ids, gateways and regions must be UTF-8
// (DynamoDB strings are).
//
// The store uses GetItem, PutItem, DeleteItem and Query only (the IAM
// actions the functions and tasks need). Retries with backoff of throttled
// and failed calls are the SDK's standard retryer.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/livestack/livestack/shared/store"
)

var _ store.Store = (*Store)(nil)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("dynamodb store is closed")

// Environment variables FromEnv reads.
const (
	// EnvTable names the table; Terraform gives it to every function and task.
	EnvTable = "LIVESTACK_TABLE"
	// EnvEndpoint, when set, is the base URL of a DynamoDB emulator (dynalite,
	// DynamoDB Local), such as "http://127.0.0.1:4567".
	EnvEndpoint = "LIVESTACK_DYNAMODB_ENDPOINT"
	// EnvRegion is the AWS region (set by Lambda and ECS).
	EnvRegion = "AWS_REGION"
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client
// implements it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Config configures New.
type Config struct {
	// Table is the name of the table (required). It must have the layout of
	// terraform/modules/metadata (EnsureTable creates one for tests).
	Table string
	// Client reaches DynamoDB (required), typically a *dynamodb.Client. It
	// belongs to the caller: Close leaves it alone.
	Client API
}

// Store is a store.Store kept in one DynamoDB table.
type Store struct {
	api    API
	table  string
	closed atomic.Bool
	// now is the clock that decides whether a session lease has ended and
	// when an orphaned api key hash item may be taken over.
	now func() time.Time
}

// New returns a store on cfg.Table, reached through cfg.Client. It makes no
// call (the functions' roles may not describe tables); the first operation
// reports a missing table.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("new dynamodb store: %w", err)
	}
	if cfg.Client == nil {
		return nil, errors.New("new dynamodb store: nil client")
	}
	if cfg.Table == "" {
		return nil, errors.New("new dynamodb store: empty table name")
	}
	return &Store{api: cfg.Client, table: cfg.Table, now: time.Now}, nil
}

// FromEnv returns a store on the table named by LIVESTACK_TABLE, with the
// default AWS configuration (AWS_REGION, the function's or task's role). When
// LIVESTACK_DYNAMODB_ENDPOINT is set, the client talks to that endpoint
// instead, and uses static dummy credentials unless AWS_ACCESS_KEY_ID is set
// (emulators accept any).
func FromEnv(ctx context.Context) (*Store, error) {
	table := os.Getenv(EnvTable)
	if table == "" {
		return nil, fmt.Errorf("dynamodb store from environment: %s is not set", EnvTable)
	}
	endpoint := os.Getenv(EnvEndpoint)
	var opts []func(*config.LoadOptions) error
	if endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("dynamodb store from environment: load aws config: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("dynamodb store from environment: %s is not set", EnvRegion)
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	s, err := New(ctx, Config{Table: table, Client: client})
	if err != nil {
		return nil, fmt.Errorf("dynamodb store from environment: %w", err)
	}
	return s, nil
}

// Table returns the name of the table the store uses.
func (s *Store) Table() string { return s.table }

// Close marks the store closed; later calls fail with ErrClosed. The client
// belongs to the caller and is left alone. Close is safe to call more than once.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// usable checks ctx and Close before a call starts work.
func (s *Store) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}
