// Package scheduler decides when a broadcast gets a worker and keeps that
// decision consistent: on "Stream Started" it starts a worker (through the
// runner port) for channels that need pixels changed, on "Stream Stopped" it
// stops it, and when a worker dies while its stream is live it starts it
// again. The same code runs in the scheduler Lambda (ECS runner, DynamoDB)
// and in the standalone binary (local runner, embedded store, in-process bus).
//
// Events may arrive twice, late or out of order. Every decision is a
// versioned conditional write on the broadcast's store.WorkerTask record:
// a duplicate Started finds the record and does nothing, a Stopped that comes
// before its Started leaves a "stopped" record so the Started starts nothing,
// and a Started racing a Stopped stops the task it just started.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/runner"
	"github.com/livestack/livestack/shared/store"
)

// Store is what the scheduler needs of the metadata store; boltstore and
// dynamostore provide it.
type Store interface {
	store.WorkerTasks
	GetChannel(ctx context.Context, id string) (*channel.Channel, error)
	GetSession(ctx context.Context, channelID string) (store.Session, error)
}

// Config of a Scheduler.
type Config struct {
	Store  Store
	Runner runner.Runner
	// RecordSize is the task size of channels that only need snapshots or
	// motion capture; TranscodeSize of channels with a transcode ladder or a
	// watermark. Empty sizes are passed as is (the local runner ignores them).
	RecordSize, TranscodeSize string
	// Spot starts workers on spare capacity (Fargate Spot).
	Spot bool
	// Needs decides whether a channel's stream gets a worker. Default
	// NeedsProcessing; the standalone build, whose gateway makes snapshots
	// and motion clips itself, uses NeedsPixels.
	Needs func(*channel.Channel) bool
	// Retention is how long a broadcast's record is kept after its last
	// change (a TTL on DynamoDB). Default 7 days.
	Retention time.Duration
	// MaxStarts caps the tasks started for one broadcast (restarts of a worker
	// that keeps dying). Default 20.
	MaxStarts int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Scheduler reacts to stream and task events.
type Scheduler struct{ cfg Config }

// New returns a Scheduler; Store and Runner are required.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Runner == nil {
		return nil, errors.New("scheduler: Store and Runner are required")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.MaxStarts <= 0 {
		cfg.MaxStarts = 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Needs == nil {
		cfg.Needs = NeedsProcessing
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Scheduler{cfg: cfg}, nil
}

// NeedsProcessing reports whether a channel's stream needs a worker: a
// transcode ladder, a watermark, snapshots or motion capture. Remuxing
// (FLV, HLS, CMAF, MP4 recording, relays) happens in the gateway and needs none.
func NeedsProcessing(ch *channel.Channel) bool {
	return NeedsPixels(ch) || ch.Recording.Snapshots || ch.Recording.Motion.Enabled
}

// NeedsPixels reports whether a channel's outputs are re-encoded: a
// transcode ladder or a watermark.
func NeedsPixels(ch *channel.Channel) bool {
	return (ch.Transcode.Enabled && len(ch.Transcode.Renditions) > 0) || ch.Watermark.Text != nil || ch.Watermark.Image != nil
}

// TaskSize is the task size of a channel that needs processing.
func (s *Scheduler) TaskSize(ch *channel.Channel) string {
	if NeedsPixels(ch) {
		return s.cfg.TranscodeSize
	}
	return s.cfg.RecordSize
}

// Handle implements events.Handler for "Stream Started" and "Stream
// Stopped"; other events are ignored.
func (s *Scheduler) Handle(ctx context.Context, ev events.Event) error {
	d := ev.Stream()
	switch {
	case d == nil:
		return nil
	case ev.Type == events.TypeStreamStarted:
		return s.StreamStarted(ctx, *d)
	case ev.Type == events.TypeStreamStopped:
		return s.StreamStopped(ctx, *d)
	}
	return nil
}

// maxRaces bounds the re-reads after lost conditional writes.
const maxRaces = 5

func (s *Scheduler) stamp(t *store.WorkerTask) {
	now := s.cfg.Now().UTC()
	t.UpdatedAt, t.ExpiresAt = now, now.Add(s.cfg.Retention)
}

// StreamStarted starts the broadcast's worker if its channel needs one and
// no record of the broadcast says otherwise.
func (s *Scheduler) StreamStarted(ctx context.Context, d events.StreamDetail) error {
	log := s.cfg.Logger.With("channel", d.ChannelID, "broadcast", d.BroadcastID)
	for race := 0; race < maxRaces; race++ {
		rec, err := s.cfg.Store.GetWorkerTask(ctx, d.ChannelID, d.BroadcastID)
		switch {
		case err == nil && rec.State != store.TaskFailed:
			log.Debug("stream started: already handled", "state", rec.State)
			return nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("stream started %s: %w", d.ChannelID, err)
		}
		ch, cerr := s.workerChannel(ctx, d.ChannelID)
		if errors.Is(cerr, store.ErrNotFound) {
			log.Warn("stream started for an unknown channel; no worker")
			return nil
		}
		if cerr != nil {
			return fmt.Errorf("stream started %s: %w", d.ChannelID, cerr)
		}
		if ch == nil {
			log.Debug("stream started: channel needs no worker")
			return nil
		}
		if errors.Is(err, store.ErrNotFound) {
			rec = store.WorkerTask{ChannelID: d.ChannelID, BroadcastID: d.BroadcastID, State: store.TaskStarting,
				Gateway: d.Gateway, Size: s.TaskSize(ch), Spot: s.cfg.Spot}
			s.stamp(&rec)
			if err := s.cfg.Store.CreateWorkerTask(ctx, rec); errors.Is(err, store.ErrExists) {
				continue // a concurrent event claimed it: look again
			} else if err != nil {
				return fmt.Errorf("stream started %s: claim: %w", d.ChannelID, err)
			}
			rec.Version = 1
		} else { // failed before: try again
			rec.State, rec.Size, rec.Gateway = store.TaskStarting, s.TaskSize(ch), d.Gateway
			s.stamp(&rec)
			if err := s.cfg.Store.UpdateWorkerTask(ctx, rec); errors.Is(err, store.ErrConflict) {
				continue
			} else if err != nil {
				return fmt.Errorf("stream started %s: claim: %w", d.ChannelID, err)
			}
			rec.Version++
		}
		return s.start(ctx, rec, d.RTMP, d.Region, "stream started")
	}
	return fmt.Errorf("stream started %s: %w after %d attempts", d.ChannelID, store.ErrConflict, maxRaces)
}

// workerChannel loads the channel of a stream, normalized, if it needs a
// worker (Config.Needs); nil if not, and store.ErrNotFound if it is gone.
func (s *Scheduler) workerChannel(ctx context.Context, id string) (*channel.Channel, error) {
	ch, err := s.cfg.Store.GetChannel(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load channel: %w", err)
	}
	ch.Normalize()
	if !s.cfg.Needs(ch) {
		return nil, nil
	}
	return ch, nil
}

// start runs the task of rec (which this call has claimed at rec.Version) and
// records its handle. If the record changed meanwhile (a Stopped arrived),
// the new task is stopped again.
func (s *Scheduler) start(ctx context.Context, rec store.WorkerTask, rtmp, region, why string) error {
	log := s.cfg.Logger.With("channel", rec.ChannelID, "broadcast", rec.BroadcastID)
	task := runner.Task{ChannelID: rec.ChannelID, BroadcastID: rec.BroadcastID, Gateway: rec.Gateway,
		GatewayRTMP: rtmp, Region: region, Size: rec.Size, Spot: rec.Spot, Attempt: rec.Starts + 1}
	handle, err := s.cfg.Runner.Start(ctx, task)
	if err != nil {
		// Count the failed attempt too: the next one gets a new attempt
		// number, so ECS does not answer it from its idempotency cache.
		rec.State, rec.Starts = store.TaskFailed, rec.Starts+1
		s.stamp(&rec)
		if uerr := s.cfg.Store.UpdateWorkerTask(ctx, rec); uerr != nil {
			log.Warn("recording a failed start", "err", uerr)
		}
		return fmt.Errorf("%s %s: %w", why, rec.ChannelID, err)
	}
	rec.State, rec.Handle, rec.Starts = store.TaskRunning, handle, rec.Starts+1
	s.stamp(&rec)
	err = s.cfg.Store.UpdateWorkerTask(ctx, rec)
	if err == nil {
		log.Info("worker started", "handle", handle, "size", rec.Size, "spot", rec.Spot, "starts", rec.Starts, "why", why)
		return nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%s %s: record task %s: %w", why, rec.ChannelID, handle, err)
	}
	// Lost to a concurrent writer: only a Stopped changes a claimed record.
	cur, gerr := s.cfg.Store.GetWorkerTask(ctx, rec.ChannelID, rec.BroadcastID)
	if gerr == nil && cur.State == store.TaskRunning && cur.Handle == handle {
		return nil // a duplicate event started the same task (idempotent start) and recorded it
	}
	if gerr == nil && cur.State == store.TaskStopped {
		log.Info("stream stopped while its worker started; stopping it", "handle", handle)
		if serr := s.cfg.Runner.Stop(ctx, handle, "stream stopped"); serr != nil {
			return fmt.Errorf("%s %s: stop %s: %w", why, rec.ChannelID, handle, serr)
		}
		return nil
	}
	return fmt.Errorf("%s %s: record task %s: %w", why, rec.ChannelID, handle, err)
}

// StreamStopped stops the broadcast's worker, or records that the broadcast
// is over so that a late Started starts nothing. A channel that needs no
// worker (or is gone) gets no such record: a late Started would start nothing
// for it anyway, and writing one per stopped stream, in sequence, held up the
// event bus when a thousand recorded streams stopped at once.
func (s *Scheduler) StreamStopped(ctx context.Context, d events.StreamDetail) error {
	for race := 0; race < maxRaces; race++ {
		rec, err := s.cfg.Store.GetWorkerTask(ctx, d.ChannelID, d.BroadcastID)
		if errors.Is(err, store.ErrNotFound) {
			ch, cerr := s.workerChannel(ctx, d.ChannelID)
			if errors.Is(cerr, store.ErrNotFound) || cerr == nil && ch == nil {
				return nil // gone, or needs no worker
			}
			if cerr != nil {
				return fmt.Errorf("stream stopped %s: %w", d.ChannelID, cerr)
			}
			rec = store.WorkerTask{ChannelID: d.ChannelID, BroadcastID: d.BroadcastID, State: store.TaskStopped, Gateway: d.Gateway}
			s.stamp(&rec)
			if err := s.cfg.Store.CreateWorkerTask(ctx, rec); errors.Is(err, store.ErrExists) {
				continue
			} else if err != nil {
				return fmt.Errorf("stream stopped %s: %w", d.ChannelID, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("stream stopped %s: %w", d.ChannelID, err)
		}
		if rec.State != store.TaskStopped {
			rec.State = store.TaskStopped
			s.stamp(&rec)
			if err := s.cfg.Store.UpdateWorkerTask(ctx, rec); errors.Is(err, store.ErrConflict) {
				continue
			} else if err != nil {
				return fmt.Errorf("stream stopped %s: %w", d.ChannelID, err)
			}
		}
		// Stop also when the record already said stopped: a retried event
		// must finish a stop that failed the first time.
		if rec.Handle != "" {
			if err := s.cfg.Runner.Stop(ctx, rec.Handle, "stream stopped"); err != nil {
				return fmt.Errorf("stream stopped %s: %w", d.ChannelID, err)
			}
			s.cfg.Logger.Info("worker stopped", "channel", d.ChannelID, "broadcast", d.BroadcastID, "handle", rec.Handle)
		}
		return nil
	}
	return fmt.Errorf("stream stopped %s: %w after %d attempts", d.ChannelID, store.ErrConflict, maxRaces)
}

// TaskEnded is a worker task that stopped (from an "ECS Task State Change").
type TaskEnded struct {
	ChannelID, BroadcastID string
	Handle                 string
	Reason                 string
}

// TaskStopped starts the broadcast's worker again when the task that died is
// its current one and the stream is still live on the same session.
func (s *Scheduler) TaskStopped(ctx context.Context, e TaskEnded) error {
	log := s.cfg.Logger.With("channel", e.ChannelID, "broadcast", e.BroadcastID, "handle", e.Handle)
	rec, err := s.cfg.Store.GetWorkerTask(ctx, e.ChannelID, e.BroadcastID)
	if errors.Is(err, store.ErrNotFound) {
		log.Debug("task stopped: no record")
		return nil
	}
	if err != nil {
		return fmt.Errorf("task stopped %s: %w", e.ChannelID, err)
	}
	if rec.State != store.TaskRunning || rec.Handle != e.Handle {
		log.Debug("task stopped: not the broadcast's current task", "state", rec.State, "current", rec.Handle)
		return nil
	}
	sess, err := s.cfg.Store.GetSession(ctx, e.ChannelID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("task stopped %s: %w", e.ChannelID, err)
	}
	if err != nil || sess.SessionID != e.BroadcastID {
		// The stream ended (its Stopped may still be on the way).
		rec.State = store.TaskStopped
		s.stamp(&rec)
		if err := s.cfg.Store.UpdateWorkerTask(ctx, rec); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("task stopped %s: %w", e.ChannelID, err)
		}
		log.Info("worker ended with its stream", "reason", e.Reason)
		return nil
	}
	if rec.Starts >= s.cfg.MaxStarts {
		rec.State = store.TaskFailed
		s.stamp(&rec)
		if err := s.cfg.Store.UpdateWorkerTask(ctx, rec); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("task stopped %s: %w", e.ChannelID, err)
		}
		log.Error("worker keeps dying; giving up for this broadcast", "starts", rec.Starts, "reason", e.Reason)
		return nil
	}
	log.Warn("worker died while its stream is live; starting it again", "reason", e.Reason, "starts", rec.Starts)
	rec.Gateway = sess.Gateway
	return s.start(ctx, rec, "", sess.Region, "restart")
}
