package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// PutEvents limits (EventBridge quotas).
const (
	MaxBatchEntries = 10
	MaxBatchBytes   = 256 * 1024
)

// PutEventsAPI is the part of the EventBridge client the publisher uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge publishes events to an EventBridge bus with PutEvents.
type EventBridge struct {
	Client PutEventsAPI
	// Bus is the event bus name or ARN (env LIVESTACK_EVENT_BUS).
	Bus string
	// Source overrides Event.Source when set (for example SourceIngestAuth).
	Source string
	// Attempts bounds the PutEvents calls per batch, retrying failed entries.
	// Default 5.
	Attempts int
	// Backoff is the first pause between attempts, doubled each time. Default 100 ms.
	Backoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	published, failed, retries atomic.Int64
}

var _ Publisher = (*EventBridge)(nil)

// Counts returns the events delivered, the events given up on and the
// PutEvents calls repeated, since start.
func (p *EventBridge) Counts() (published, failed, retries int64) {
	return p.published.Load(), p.failed.Load(), p.retries.Load()
}

// ErrTooLarge is returned for an event bigger than a PutEvents request may be.
var ErrTooLarge = errors.New("event larger than 256 KB")

type entry struct {
	in   ebtypes.PutEventsRequestEntry
	size int
}

// Publish sends evs in batches of at most 10 entries and 256 KB, retrying the
// entries EventBridge reports as failed (and whole batches on transport
// errors, which the SDK already retries) with exponential backoff.
func (p *EventBridge) Publish(ctx context.Context, evs ...Event) error {
	entries := make([]entry, 0, len(evs))
	for _, ev := range evs {
		e, err := p.entry(ev)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	var errs []error
	for len(entries) > 0 {
		n, size := 0, 0
		for n < len(entries) && n < MaxBatchEntries && size+entries[n].size <= MaxBatchBytes {
			size += entries[n].size
			n++
		}
		if err := p.send(ctx, entries[:n]); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		entries = entries[n:]
	}
	return errors.Join(errs...)
}

func (p *EventBridge) entry(ev Event) (entry, error) {
	src := ev.Source
	if p.Source != "" {
		src = p.Source
	}
	if src == "" {
		src = Source
	}
	detail, err := json.Marshal(ev.Detail)
	if err != nil {
		return entry{}, fmt.Errorf("encode %s detail: %w", ev.Type, err)
	}
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	in := ebtypes.PutEventsRequestEntry{
		Source: aws.String(src), DetailType: aws.String(ev.Type), Detail: aws.String(string(detail)),
		Time: aws.Time(t), EventBusName: aws.String(p.Bus),
	}
	// Entry size as EventBridge counts it: 14 bytes for Time, plus the UTF-8
	// bytes of Source, DetailType and Detail (no resources are sent).
	size := 14 + len(src) + len(ev.Type) + len(detail)
	if size > MaxBatchBytes {
		return entry{}, fmt.Errorf("%s for %s: %d bytes: %w", ev.Type, src, size, ErrTooLarge)
	}
	return entry{in: in, size: size}, nil
}

func (p *EventBridge) send(ctx context.Context, batch []entry) error {
	attempts := p.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	wait := p.Backoff
	if wait <= 0 {
		wait = 100 * time.Millisecond
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	pending := make([]ebtypes.PutEventsRequestEntry, len(batch))
	for i, e := range batch {
		pending[i] = e.in
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		out, err := p.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: pending})
		switch {
		case err != nil:
			lastErr = fmt.Errorf("put %d events to %s: %w", len(pending), p.Bus, err)
		case out.FailedEntryCount == 0:
			p.published.Add(int64(len(pending)))
			return nil
		default:
			var failed []ebtypes.PutEventsRequestEntry
			var codes []string
			for i, r := range out.Entries {
				if i < len(pending) && r.ErrorCode != nil {
					failed = append(failed, pending[i])
					codes = append(codes, aws.ToString(r.ErrorCode)+": "+aws.ToString(r.ErrorMessage))
				}
			}
			if len(failed) == 0 { // FailedCount without per-entry errors: resend all
				failed = pending
			}
			p.published.Add(int64(len(pending) - len(failed)))
			pending = failed
			lastErr = fmt.Errorf("put events to %s: %d entries failed: %v", p.Bus, len(failed), codes)
		}
		if attempt >= attempts {
			p.failed.Add(int64(len(pending)))
			return lastErr
		}
		p.retries.Add(1)
		log.Warn("eventbridge put failed, retrying", "attempt", attempt, "entries", len(pending), "err", lastErr)
		select {
		case <-ctx.Done():
			p.failed.Add(int64(len(pending)))
			return fmt.Errorf("%w (gave up: %w)", lastErr, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}
