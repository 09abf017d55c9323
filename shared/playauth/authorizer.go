package playauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/livestack/livestack/shared/channel"
)

// ChannelLookup returns a channel by id (typically store.Store.GetChannel).
type ChannelLookup func(ctx context.Context, id string) (*channel.Channel, error)

// Authorizer is the playback hook (playback.Authorizer, gateway.Deps.PlayAuth):
// channels with playAuth set need a valid signature, others play freely.
type Authorizer struct {
	Verifier *Verifier
	Lookup   ChannelLookup
	// NotFound reports whether a Lookup error means "no such channel" (such
	// requests pass: the stream cannot be live, playback answers 404).
	NotFound func(error) bool
	// CacheTTL keeps a channel's playAuth setting this long; default 2 s.
	CacheTTL time.Duration
	Logger   *slog.Logger

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	required bool
	at       time.Time
}

// maxCache bounds the cache; it is cleared when full.
const maxCache = 10000

// Authorize returns nil when r may play channelID.
func (a *Authorizer) Authorize(r *http.Request, channelID string) error {
	required, err := a.required(r.Context(), channelID)
	if err != nil {
		return err
	}
	if !required {
		return nil
	}
	if err := a.Verifier.VerifyHTTP(r); err != nil {
		if a.Logger != nil {
			a.Logger.Info("play refused", "channel", channelID, "remote", r.RemoteAddr, "error", err)
		}
		return err
	}
	return nil
}

func (a *Authorizer) required(ctx context.Context, id string) (bool, error) {
	ttl := a.CacheTTL
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	now := time.Now()
	a.mu.Lock()
	c, ok := a.cache[id]
	a.mu.Unlock()
	if ok && now.Sub(c.at) < ttl {
		return c.required, nil
	}
	ch, err := a.Lookup(ctx, id)
	switch {
	case err != nil && a.NotFound != nil && a.NotFound(err):
		return false, nil
	case err != nil:
		// Fail closed: a store outage must not open signed channels.
		return false, errors.Join(errors.New("play authorization unavailable"), err)
	}
	a.mu.Lock()
	if a.cache == nil || len(a.cache) >= maxCache {
		a.cache = map[string]cached{}
	}
	a.cache[id] = cached{required: ch.PlayAuth, at: now}
	a.mu.Unlock()
	return ch.PlayAuth, nil
}
