package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
)

// DefaultLease is how long a publish session holds its channel without renewal.
const DefaultLease = 30 * time.Second

// Local authorizes publishes in process, against the store and the push key.
type Local struct {
	Store  store.Store
	Signer *signing.Signer
	// Lease is the session lease; default DefaultLease.
	Lease time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

var _ Authorizer = (*Local)(nil)

func (l *Local) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Local) lease() time.Duration {
	if l.Lease > 0 {
		return l.Lease
	}
	return DefaultLease
}

// AuthorizePublish checks the id, the signature, the channel and that the
// channel is not live elsewhere, then takes the publish session.
func (l *Local) AuthorizePublish(ctx context.Context, req PublishRequest) (Grant, error) {
	if id, rend, ok := SplitRendition(req.ChannelID); ok {
		return l.authorizeRendition(ctx, req, id, rend)
	}
	now := l.now()
	if !channel.ValidID(req.ChannelID) {
		return Grant{}, Refuse(ReasonInvalidChannel, fmt.Sprintf("%q", req.ChannelID))
	}
	if err := l.verify(ctx, req.ChannelID, req.Sign, now); err != nil {
		return Grant{}, signRefusal(err)
	}
	ch, err := l.channel(ctx, req.ChannelID, now)
	if err != nil {
		return Grant{}, err
	}
	until := now.Add(l.lease())
	err = l.Store.AcquireSession(ctx, store.Session{
		ChannelID: req.ChannelID, SessionID: req.SessionID, Gateway: req.Gateway,
		Region: req.Region, StartedAt: now, ExpiresAt: until,
	})
	if errors.Is(err, store.ErrLive) {
		return Grant{}, Refuse(ReasonAlreadyLive, "")
	}
	if err != nil {
		return Grant{}, fmt.Errorf("authorize publish %s: %w", req.ChannelID, err)
	}
	return Grant{Channel: ch, LeaseUntil: until}, nil
}

// Renew re-checks the channel and extends the session's lease.
func (l *Local) Renew(ctx context.Context, req PublishRequest) (Grant, error) {
	if id, rend, ok := SplitRendition(req.ChannelID); ok {
		return l.renewRendition(ctx, id, rend)
	}
	now := l.now()
	ch, err := l.channel(ctx, req.ChannelID, now)
	if err != nil {
		return Grant{}, err
	}
	cur, err := l.Store.GetSession(ctx, req.ChannelID)
	started := now
	if err == nil && cur.SessionID == req.SessionID {
		started = cur.StartedAt
	}
	until := now.Add(l.lease())
	err = l.Store.AcquireSession(ctx, store.Session{
		ChannelID: req.ChannelID, SessionID: req.SessionID, Gateway: req.Gateway,
		Region: req.Region, StartedAt: started, ExpiresAt: until,
	})
	if errors.Is(err, store.ErrLive) {
		return Grant{}, Refuse(ReasonAlreadyLive, "session taken over")
	}
	if err != nil {
		return Grant{}, fmt.Errorf("renew publish %s: %w", req.ChannelID, err)
	}
	return Grant{Channel: ch, LeaseUntil: until}, nil
}

// verify checks the push signature with the channel's push key epoch
// (channel.Channel.PushKeyEpoch, bumped by rotate-key): a signature of an older
// epoch is refused as bad. Unsigned and malformed values cost no store read.
func (l *Local) verify(ctx context.Context, id, sign string, now time.Time) error {
	err := l.Signer.Verify(id, sign, now)
	if err != nil && !errors.Is(err, signing.ErrBadSignature) {
		return err
	}
	ch, gerr := l.Store.GetChannel(ctx, id)
	if gerr != nil || ch.PushKeyEpoch == 0 {
		return err // unknown channels are refused after the signature check
	}
	if err == nil {
		return fmt.Errorf("verify push signature: %w: signed before the push key was rotated", signing.ErrBadSignature)
	}
	return l.Signer.ForEpoch(ch.PushKeyEpoch).Verify(id, sign, now)
}

// Unpublish releases the session.
func (l *Local) Unpublish(ctx context.Context, req PublishRequest) error {
	if _, _, ok := SplitRendition(req.ChannelID); ok {
		return nil // renditions hold no session
	}
	if err := l.Store.ReleaseSession(ctx, req.ChannelID, req.SessionID); err != nil {
		return fmt.Errorf("unpublish %s: %w", req.ChannelID, err)
	}
	return nil
}

func (l *Local) channel(ctx context.Context, id string, now time.Time) (*channel.Channel, error) {
	ch, err := l.Store.GetChannel(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Refuse(ReasonUnknownChannel, id)
	}
	if err != nil {
		return nil, fmt.Errorf("load channel %s: %w", id, err)
	}
	ch.Normalize()
	switch err := ch.Live(now); {
	case errors.Is(err, channel.ErrDisabled):
		return nil, Refuse(ReasonDisabled, "")
	case errors.Is(err, channel.ErrExpired):
		return nil, Refuse(ReasonChannelExpired, ch.ExpiresAt.Format(time.RFC3339))
	}
	return ch, nil
}

func signRefusal(err error) error {
	switch {
	case errors.Is(err, signing.ErrMissing):
		return Refuse(ReasonUnsigned, "")
	case errors.Is(err, signing.ErrMalformed):
		return Refuse(ReasonMalformed, err.Error())
	case errors.Is(err, signing.ErrExpired):
		return Refuse(ReasonSignExpired, err.Error())
	case errors.Is(err, signing.ErrBadSignature):
		return Refuse(ReasonBadSignature, "")
	}
	return Refuse(ReasonBadSignature, err.Error())
}
