// Package store is livestack's metadata port: channels, publish sessions,
// recordings, API keys and a small settings area, behind one interface with
// two implementations (an embedded database for the standalone build,
// DynamoDB on AWS).
//
// Implementations are safe for concurrent use, return errors that wrap the
// sentinels below (test them with errors.Is), and never hand out values that
// alias their own storage. Every implementation must pass the contract suite in
// package storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livestack/livestack/shared/channel"
)

// Errors returned (wrapped) by every Store implementation.
var (
	// ErrNotFound: the channel, session or setting does not exist (or, for a
	// session, its lease has ended).
	ErrNotFound = errors.New("not found")
	// ErrExists: CreateChannel was given an id that is already taken.
	ErrExists = errors.New("already exists")
	// ErrConflict: a conditional write lost a race with a concurrent writer of
	// the same item; retrying the whole read-modify-write may succeed.
	ErrConflict = errors.New("conflicting concurrent write")
	// ErrLive: AcquireSession found another unexpired publish session of the channel.
	ErrLive = errors.New("channel is already live")
	// ErrInvalid: an argument cannot be stored (bad channel id, empty session
	// id, lease ending before it starts, oversize setting...).
	ErrInvalid = errors.New("invalid argument")
	// ErrInvalidCursor: ListOptions.Cursor was not produced by this store.
	ErrInvalidCursor = errors.New("invalid cursor")
)

// Limits shared by all implementations (DynamoDB items stay well under 400 KB).
const (
	// DefaultListLimit is used when ListOptions.Limit is 0 or negative.
	DefaultListLimit = 50
	// MaxListLimit caps ListOptions.Limit; larger values are lowered to it.
	MaxListLimit = 1000
	// MaxSessionIDLength bounds Session.SessionID.
	MaxSessionIDLength = 128
	// MaxSettingKeyLength bounds a setting key.
	MaxSettingKeyLength = 256
	// MaxSettingValueSize bounds a setting value.
	MaxSettingValueSize = 256 << 10
)

// Store is the metadata port. All methods honour ctx cancellation at least
// before they start work.
type Store interface {
	// CreateChannel stores a new channel; ErrExists if its id is taken,
	// ErrInvalid if the id is not channel.ValidID. The channel is stored as
	// given: defaults and validation are the caller's job.
	CreateChannel(ctx context.Context, c *channel.Channel) error
	// GetChannel returns a copy of the channel; ErrNotFound if absent.
	GetChannel(ctx context.Context, id string) (*channel.Channel, error)
	// UpdateChannel replaces an existing channel; ErrNotFound if absent.
	UpdateChannel(ctx context.Context, c *channel.Channel) error
	// DeleteChannel removes a channel; ErrNotFound if absent.
	DeleteChannel(ctx context.Context, id string) error
	// ListChannels returns one page of channels ordered by id. Page.Next is
	// empty on the last page; otherwise pass it back as ListOptions.Cursor.
	// A cursor this store did not produce gives ErrInvalidCursor.
	ListChannels(ctx context.Context, opts ListOptions) (Page, error)

	// AcquireSession records s as the live publish of s.ChannelID. It succeeds
	// when the channel has no unexpired session or when the unexpired one has
	// the same SessionID (a lease renewal, which replaces every field); it
	// returns ErrLive otherwise. It is a single conditional write, atomic
	// against concurrent callers on any gateway.
	AcquireSession(ctx context.Context, s Session) error
	// ReleaseSession removes the channel's session if its SessionID is
	// sessionID. Releasing a session that is absent or was taken over by
	// another session id does nothing and returns nil.
	ReleaseSession(ctx context.Context, channelID, sessionID string) error
	// GetSession returns the channel's unexpired session; ErrNotFound if none.
	GetSession(ctx context.Context, channelID string) (Session, error)
	// ListSessions returns every unexpired session, ordered by channel id.
	ListSessions(ctx context.Context) ([]Session, error)

	// GetSetting returns a copy of the value stored under key; ErrNotFound if absent.
	GetSetting(ctx context.Context, key string) ([]byte, error)
	// PutSetting stores value under key, replacing any previous value.
	PutSetting(ctx context.Context, key string, value []byte) error

	Recordings
	APIKeys

	// Close releases the store. It is safe to call more than once.
	Close() error
}

// ListOptions selects one page of ListChannels.
type ListOptions struct {
	// Limit is the page size; 0 or negative means DefaultListLimit, values over
	// MaxListLimit are lowered to it.
	Limit int
	// Cursor is Page.Next from the previous call; empty starts at the first id.
	Cursor string
}

// Page is one page of channels.
type Page struct {
	Channels []*channel.Channel
	// Next is an opaque cursor for the following page, empty on the last page.
	Next string
}

// Session is one live publish of a channel, held by one gateway under a lease.
type Session struct {
	ChannelID string `json:"channelId"`
	// SessionID identifies this publish (one RTMP connection); renewals reuse it.
	SessionID string `json:"sessionId"`
	// Gateway is the address edges pull the stream from, such as "10.0.3.7:8080".
	Gateway string `json:"gateway"`
	// Region is the AWS region of the gateway; empty in standalone.
	Region    string    `json:"region"`
	StartedAt time.Time `json:"startedAt"`
	// ExpiresAt ends the lease: after it, the session no longer blocks other
	// publishes and is no longer listed. Implementations keep at least
	// one-second precision.
	ExpiresAt time.Time `json:"expiresAt"`
}

// Active reports whether the session's lease still runs at now.
func (s Session) Active(now time.Time) bool { return now.Before(s.ExpiresAt) }

// Validate checks that s can be stored; the error wraps ErrInvalid.
func (s Session) Validate() error {
	switch {
	case !channel.ValidID(s.ChannelID):
		return invalid("session channel id %q is not a valid channel id", s.ChannelID)
	case s.SessionID == "" || len(s.SessionID) > MaxSessionIDLength:
		return invalid("session id must be 1-%d bytes", MaxSessionIDLength)
	case s.Gateway == "":
		return invalid("session gateway address is empty")
	case s.StartedAt.IsZero() || s.ExpiresAt.IsZero():
		return invalid("session startedAt and expiresAt must be set")
	case !s.ExpiresAt.After(s.StartedAt):
		return invalid("session expiresAt %s is not after startedAt %s",
			s.ExpiresAt.Format(time.RFC3339), s.StartedAt.Format(time.RFC3339))
	}
	return nil
}

// ValidSettingKey checks a settings key; the error wraps ErrInvalid.
func ValidSettingKey(key string) error {
	if key == "" || len(key) > MaxSettingKeyLength {
		return invalid("setting key must be 1-%d bytes", MaxSettingKeyLength)
	}
	return nil
}

// ValidSettingValue checks a settings value; the error wraps ErrInvalid.
func ValidSettingValue(value []byte) error {
	if len(value) > MaxSettingValueSize {
		return invalid("setting value is %d bytes, more than %d", len(value), MaxSettingValueSize)
	}
	return nil
}

// EffectiveLimit returns the page size o.Limit stands for.
func (o ListOptions) EffectiveLimit() int {
	switch {
	case o.Limit <= 0:
		return DefaultListLimit
	case o.Limit > MaxListLimit:
		return MaxListLimit
	}
	return o.Limit
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
