package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBusQueue is the Bus queue length when BusConfig.Queue is 0.
const DefaultBusQueue = 1024

// BusConfig configures a Bus.
type BusConfig struct {
	// Queue bounds the events waiting for delivery. Default DefaultBusQueue.
	Queue int
	// FullWait is how long Publish waits for room in a full queue (a
	// thousand streams ending at once) before it drops the event, logs it
	// and counts it in Dropped. Default 10 s; negative drops at once.
	FullWait time.Duration
	// HandlerTimeout bounds one handler call. Default 30 s.
	HandlerTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Bus is the in-process event bus of the standalone build. Publish blocks
// only while the queue is full (at most BusConfig.FullWait): events go into a
// bounded queue and one goroutine delivers them, in
// publish order, to every handler subscribed to their type. A handler error is
// logged; it does not stop delivery to others.
type Bus struct {
	cfg     BusConfig
	queue   chan Event
	mu      sync.RWMutex
	subs    map[string][]Handler // by detail type; "" receives everything
	closed  chan struct{}
	done    chan struct{}
	once    sync.Once
	dropped atomic.Int64
	handled atomic.Int64
	// ctx is handed to handlers; it ends on Close.
	ctx    context.Context
	cancel context.CancelFunc
}

var _ Publisher = (*Bus)(nil)

// NewBus starts a bus; Close stops it.
func NewBus(cfg BusConfig) *Bus {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultBusQueue
	}
	if cfg.HandlerTimeout <= 0 {
		cfg.HandlerTimeout = 30 * time.Second
	}
	if cfg.FullWait == 0 {
		cfg.FullWait = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{
		cfg: cfg, queue: make(chan Event, cfg.Queue), subs: map[string][]Handler{},
		closed: make(chan struct{}), done: make(chan struct{}), ctx: ctx, cancel: cancel,
	}
	go b.loop()
	return b
}

// Subscribe registers h for events of the given detail types; no types means
// every event. It returns a function that removes the subscription.
func (b *Bus) Subscribe(h Handler, types ...string) (unsubscribe func()) {
	if len(types) == 0 {
		types = []string{""}
	}
	b.mu.Lock()
	idx := map[string]int{}
	for _, t := range types {
		b.subs[t] = append(b.subs[t], h)
		idx[t] = len(b.subs[t]) - 1
	}
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			for _, t := range types {
				hs := b.subs[t]
				// Handlers are not comparable; remove by position, which stays
				// valid because removals mark the slot nil instead of shifting.
				if i := idx[t]; i < len(hs) {
					hs[i] = nil
				}
			}
		})
	}
}

// Publish queues the events for delivery. It returns at once unless the
// queue is full; then it waits for room up to BusConfig.FullWait (or until ctx
// ends or the bus closes). An event that still does not fit, or arrives after
// Close, is dropped, logged and reported in the returned error.
func (b *Bus) Publish(ctx context.Context, evs ...Event) error {
	var dropped int
	for _, ev := range evs {
		if ev.ID == "" {
			ev.ID = newID()
		}
		if ev.Source == "" {
			ev.Source = Source
		}
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		select {
		case <-b.closed:
			dropped++
			continue
		default:
		}
		if !b.enqueue(ctx, ev) {
			dropped++
			b.dropped.Add(1)
			b.cfg.Logger.Warn("event bus full: event dropped", "type", ev.Type, "id", ev.ID, "queue", cap(b.queue), "waited", max(b.cfg.FullWait, 0))
		}
	}
	if dropped > 0 {
		return fmt.Errorf("event bus: %d of %d events dropped", dropped, len(evs))
	}
	return nil
}

// enqueue puts ev in the queue, waiting up to FullWait for room.
func (b *Bus) enqueue(ctx context.Context, ev Event) bool {
	select {
	case b.queue <- ev:
		return true
	default:
	}
	if b.cfg.FullWait <= 0 {
		return false
	}
	t := time.NewTimer(b.cfg.FullWait)
	defer t.Stop()
	select {
	case b.queue <- ev:
		return true
	case <-t.C:
	case <-ctx.Done():
	case <-b.closed:
	}
	return false
}

// Dropped is the number of events dropped because the queue was full.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }

// Handled is the number of handler calls made.
func (b *Bus) Handled() int64 { return b.handled.Load() }

// Close stops accepting events, delivers those already queued (until ctx
// ends) and stops the delivery goroutine.
func (b *Bus) Close(ctx context.Context) error {
	b.once.Do(func() { close(b.closed) })
	select {
	case <-b.done:
		b.cancel()
		return nil
	case <-ctx.Done():
		b.cancel()
		<-b.done
		return fmt.Errorf("event bus close: %w", ctx.Err())
	}
}

func (b *Bus) loop() {
	defer close(b.done)
	for {
		select {
		case ev := <-b.queue:
			b.deliver(ev)
		case <-b.closed:
			for {
				select {
				case ev := <-b.queue:
					b.deliver(ev)
				default:
					return
				}
			}
		}
	}
}

func (b *Bus) deliver(ev Event) {
	b.mu.RLock()
	hs := append(append([]Handler(nil), b.subs[ev.Type]...), b.subs[""]...)
	b.mu.RUnlock()
	for _, h := range hs {
		if h == nil {
			continue
		}
		b.call(h, ev)
	}
}

func (b *Bus) call(h Handler, ev Event) {
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.HandlerTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			b.cfg.Logger.Error("event handler panicked", "type", ev.Type, "id", ev.ID, "panic", r)
		}
	}()
	b.handled.Add(1)
	if err := h(ctx, ev); err != nil {
		b.cfg.Logger.Error("event handler failed", "type", ev.Type, "id", ev.ID, "err", err)
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
