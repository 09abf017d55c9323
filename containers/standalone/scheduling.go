package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/events/streamhooks"
	"github.com/livestack/livestack/shared/metrics"
	"github.com/livestack/livestack/shared/runner"
	"github.com/livestack/livestack/shared/scheduler"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
)

// scheduling is the standalone control loop: the gateway's stream hooks
// publish Stream Started/Stopped on the in-process bus, and the scheduler
// (the same code as the scheduler Lambda) starts and stops workers through
// the local runner.
type scheduling struct {
	Bus     *events.Bus
	Emitter *streamhooks.Emitter
	Runner  runner.Runner
	local   *runner.Local
	unsub   func()
	log     *slog.Logger
}

// workerFunc runs one worker in process until its stream ends.
type workerFunc func(ctx context.Context, t runner.Task) error

// newScheduling wires bus, emitter and scheduler. work runs a worker; with
// override set (tests), that runner is used instead of the local one. With
// neither, events are still published but no worker is started.
func newScheduling(st *boltstore.Store, work workerFunc, override runner.Runner, log *slog.Logger) (*scheduling, error) {
	s := &scheduling{log: log}
	s.Bus = events.NewBus(events.BusConfig{Logger: log})
	s.Emitter = &streamhooks.Emitter{Publisher: s.Bus, Sessions: st, Logger: log}
	var _ store.WorkerTasks = st // the scheduler keeps its records in the same file
	switch {
	case override != nil:
		s.Runner = override
	case work != nil:
		local, err := runner.NewLocal(runner.LocalConfig{
			Run: work,
			Live: func(channelID string) bool {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err := st.GetSession(ctx, channelID)
				return err == nil
			},
			Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("worker runner: %w", err)
		}
		s.local, s.Runner = local, local
	default:
		log.Info("no in-process worker configured: stream events are published, no worker starts")
		return s, nil
	}
	// Snapshots and motion clips are made by the gateway's own hooks here:
	// only re-encoding needs a worker.
	sched, err := scheduler.New(scheduler.Config{Store: st, Runner: s.Runner, Needs: scheduler.NeedsPixels, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.unsub = s.Bus.Subscribe(sched.Handle, events.TypeStreamStarted, events.TypeStreamStopped)
	return s, nil
}

// RecordingReady publishes "Recording Ready" for a finished recording
// (recording.Config.OnReady).
func (s *scheduling) RecordingReady(ctx context.Context, r store.Recording) {
	if err := s.Bus.Publish(ctx, events.RecordingReady(events.RecordingDetailOf(r, ""))); err != nil {
		s.log.Warn("publish Recording Ready", "recording", r.ID, "err", err)
	}
}

// Metrics exposes the bus counters on /metrics.
func (s *scheduling) Metrics() metrics.Source { return events.Metrics{Bus: s.Bus} }

// Close waits briefly for the last Stopped events, then stops the bus and
// every local worker.
func (s *scheduling) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Emitter.Wait(ctx); err != nil {
		s.log.Warn("stream events still pending at shutdown", "err", err)
	}
	if err := s.Bus.Close(ctx); err != nil {
		s.log.Warn("event bus close", "err", err)
	}
	if s.unsub != nil {
		s.unsub()
	}
	if s.local != nil {
		if err := s.local.Close(ctx); err != nil {
			s.log.Warn("workers still running at shutdown", "err", err)
		}
	}
}

type workerRunner = runner.Runner
