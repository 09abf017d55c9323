package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// RenditionOriginal names the full-size rendition a worker publishes when the
// channel has a watermark: the source re-encoded at its own size and bitrate.
const RenditionOriginal = "original"

// RenditionNames are the rendition names a worker may publish under
// "{channelId}/{rendition}": the transcode templates plus RenditionOriginal.
var RenditionNames = append(append([]string{}, channel.Renditions...), RenditionOriginal)

// ViewKey is the hub key viewers of channel ch's own stream id are served:
// "{id}/original" (the worker's watermarked re-encode) when the channel has a
// watermark, so no viewer can bypass it; "" otherwise (the stream itself).
func ViewKey(ch *channel.Channel, id string) string {
	if ch == nil || (ch.Watermark.Text == nil && ch.Watermark.Image == nil) || !channel.ValidID(id) {
		return ""
	}
	return id + "/" + RenditionOriginal
}

// SplitRendition splits a publish name "{channelId}/{rendition}" made by a
// worker; ok is false for anything else (plain channel ids included).
func SplitRendition(name string) (channelID, rendition string, ok bool) {
	channelID, rendition, found := strings.Cut(name, "/")
	if !found || !channel.ValidID(channelID) {
		return "", "", false
	}
	for _, r := range RenditionNames {
		if r == rendition {
			return channelID, rendition, true
		}
	}
	return "", "", false
}

// ValidPublishName reports whether name may be published: a channel id or a
// rendition name "{channelId}/{rendition}".
func ValidPublishName(name string) bool {
	if channel.ValidID(name) {
		return true
	}
	_, _, ok := SplitRendition(name)
	return ok
}

// authorizeRendition admits a worker publishing one rendition of a live
// channel. The signature must cover the exact name ("{channelId}/{rendition}"),
// the channel must exist and be live, and its own publish session must be
// running; no session is taken for the rendition itself, so restarts of the
// worker are never refused as "already live".
func (l *Local) authorizeRendition(ctx context.Context, req PublishRequest, id, rend string) (Grant, error) {
	now := l.now()
	if err := l.Signer.Verify(req.ChannelID, req.Sign, now); err != nil {
		return Grant{}, signRefusal(err)
	}
	ch, err := l.channel(ctx, id, now)
	if err != nil {
		return Grant{}, err
	}
	if err := l.parentLive(ctx, id); err != nil {
		return Grant{}, err
	}
	return Grant{Channel: ch, LeaseUntil: now.Add(l.lease()), Rendition: rend}, nil
}

// renewRendition keeps a rendition publish while its channel stays enabled and live.
func (l *Local) renewRendition(ctx context.Context, id, rend string) (Grant, error) {
	now := l.now()
	ch, err := l.channel(ctx, id, now)
	if err != nil {
		return Grant{}, err
	}
	if err := l.parentLive(ctx, id); err != nil {
		return Grant{}, err
	}
	return Grant{Channel: ch, LeaseUntil: now.Add(l.lease()), Rendition: rend}, nil
}

func (l *Local) parentLive(ctx context.Context, id string) error {
	_, err := l.Store.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Refuse(ReasonSourceOffline, id)
	}
	if err != nil {
		return fmt.Errorf("load session %s: %w", id, err)
	}
	return nil
}
