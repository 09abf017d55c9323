// Package streamhooks turns the gateway's stream lifecycle into events: an
// rtmpserver.StreamHooks that publishes "Stream Started" when a stream starts
// and "Stream Stopped" when it ends (s.Done(), after the reconnect window, so
// a publisher that reconnects in time does not stop its worker).
package streamhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/rtmpserver"
	"github.com/livestack/livestack/shared/store"
)

// SessionGetter finds the publish session of a channel (store.Store has it).
type SessionGetter interface {
	GetSession(ctx context.Context, channelID string) (store.Session, error)
}

// Emitter publishes stream events for the streams a gateway starts.
type Emitter struct {
	// Publisher receives the events (the in-process bus, or EventBridge).
	Publisher events.Publisher
	// Sessions, when set, names the broadcast after the publish session that
	// started it (the id ingestauth uses too, so events from both meet the
	// same worker record) and takes the gateway address from it.
	Sessions SessionGetter
	// Region of the gateway; empty in standalone.
	Region string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Timeout bounds one publish. Default 30 s.
	Timeout time.Duration

	mu         sync.Mutex
	http, rtmp string
	wg         sync.WaitGroup
}

var _ rtmpserver.StreamHooks = (*Emitter)(nil)

// SetAddrs sets the gateway's HTTP and RTMP addresses (host:port) put on
// events; an unspecified host (":8080", "[::]:8080") becomes 127.0.0.1, the
// address a worker in the same host reaches.
func (e *Emitter) SetAddrs(httpAddr, rtmpAddr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.http, e.rtmp = Dialable(httpAddr), Dialable(rtmpAddr)
}

// Dialable replaces an empty or unspecified host of addr by 127.0.0.1.
func Dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

func (e *Emitter) log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

// StreamStarted implements rtmpserver.StreamHooks. It returns at once; the
// events are published from a goroutine, Started first, Stopped when the
// stream ends (or, if the server shuts down first, then).
func (e *Emitter) StreamStarted(ctx context.Context, ch *channel.Channel, s *hub.Stream) {
	e.mu.Lock()
	d := events.StreamDetail{ChannelID: ch.ID, Gateway: e.http, RTMP: e.rtmp, Region: e.Region, StartedAt: time.Now().UTC()}
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		// The session lookup (a DynamoDB read on AWS) runs here, not on the
		// publisher's goroutine.
		e.name(ctx, &d)
		e.publish(events.StreamStarted(d))
		reason := "ended"
		select {
		case <-s.Done():
		case <-ctx.Done():
			reason = "shutdown"
		}
		stop := d
		now := time.Now().UTC()
		stop.StoppedAt, stop.Reason = &now, reason
		e.publish(events.StreamStopped(stop))
	}()
}

// name sets the session and broadcast ids (and the gateway address) of d.
func (e *Emitter) name(ctx context.Context, d *events.StreamDetail) {
	if e.Sessions != nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		sess, err := e.Sessions.GetSession(lctx, d.ChannelID)
		cancel()
		if err == nil {
			d.SessionID, d.StartedAt = sess.SessionID, sess.StartedAt.UTC()
			if sess.Gateway != "" {
				d.Gateway = Dialable(sess.Gateway)
			}
		} else {
			e.log().Warn("stream started without a readable session; naming the broadcast", "channel", d.ChannelID, "err", err)
		}
	}
	if d.SessionID == "" {
		d.SessionID = newID()
	}
	d.BroadcastID = d.SessionID
}

func (e *Emitter) publish(ev events.Event) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	// Not the server's ctx: a Stopped must still go out while it shuts down.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := ev.Stream()
	if err := e.Publisher.Publish(ctx, ev); err != nil {
		e.log().Error("publish stream event", "type", ev.Type, "channel", d.ChannelID, "broadcast", d.BroadcastID, "err", err)
		return
	}
	e.log().Info("stream event", "type", ev.Type, "channel", d.ChannelID, "broadcast", d.BroadcastID, "gateway", d.Gateway)
}

// Wait waits until every stream's Stopped event was published (or ctx ends).
func (e *Emitter) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
