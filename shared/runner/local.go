package runner

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// LocalConfig configures a Local runner.
type LocalConfig struct {
	// Run does the work of one task until its stream ends or ctx is cancelled
	// (the standalone build passes a wrapper around shared/worker.Run).
	Run func(ctx context.Context, t Task) error
	// Live reports whether the channel's stream is still live; a worker that
	// returns while it is live is restarted. Nil means: restart only after an
	// error, never after a clean return.
	Live func(channelID string) bool
	// MinBackoff and MaxBackoff bound the pause before a restart (doubling
	// from MinBackoff, reset after a run of at least MaxBackoff). Defaults
	// 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// forgetAfter is how long Describe still knows a stopped local worker.
const forgetAfter = 10 * time.Minute

// Local runs workers in goroutines of this process (the standalone build).
type Local struct {
	cfg  LocalConfig
	seq  atomic.Int64
	mu   sync.Mutex
	jobs map[string]*localJob
	wg   sync.WaitGroup
}

type localJob struct {
	task   Task
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	status Status
	reason string
}

var _ Runner = (*Local)(nil)

// NewLocal returns a Local runner; cfg.Run is required.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Run == nil {
		return nil, fmt.Errorf("local runner: Run is required")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Local{cfg: cfg, jobs: map[string]*localJob{}}, nil
}

// Start runs t in a new goroutine, independent of ctx (which only bounds the
// call); Stop or Close ends it.
func (l *Local) Start(ctx context.Context, t Task) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("start worker %s: %w", t.ChannelID, err)
	}
	handle := fmt.Sprintf("local/%s/%d", t.ChannelID, l.seq.Add(1))
	jctx, cancel := context.WithCancel(context.Background())
	j := &localJob{task: t, cancel: cancel, done: make(chan struct{}),
		status: Status{Handle: handle, State: StateRunning, StartedAt: time.Now()}}
	l.mu.Lock()
	// Forget workers that stopped long ago, so the map stays small.
	for h, old := range l.jobs {
		old.mu.Lock()
		if old.status.State == StateStopped && time.Since(old.status.StoppedAt) > forgetAfter {
			delete(l.jobs, h)
		}
		old.mu.Unlock()
	}
	l.jobs[handle] = j
	l.mu.Unlock()
	l.wg.Add(1)
	go l.supervise(jctx, j)
	return handle, nil
}

func (l *Local) supervise(ctx context.Context, j *localJob) {
	defer l.wg.Done()
	defer close(j.done)
	log := l.cfg.Logger.With("component", "runner", "channel", j.task.ChannelID, "handle", j.status.Handle)
	backoff := l.cfg.MinBackoff
	for {
		began := time.Now()
		err := l.runOnce(ctx, j.task)
		if ctx.Err() != nil {
			l.finish(j, "stopped: "+j.stopReason())
			return
		}
		live := l.cfg.Live != nil && l.cfg.Live(j.task.ChannelID)
		if err == nil && !live {
			l.finish(j, "stream ended")
			return
		}
		if err != nil && l.cfg.Live != nil && !live {
			log.Warn("worker failed after its stream ended", "err", err)
			l.finish(j, "failed: "+err.Error())
			return
		}
		if time.Since(began) >= l.cfg.MaxBackoff {
			backoff = l.cfg.MinBackoff
		}
		log.Warn("worker exited while its stream is live; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			l.finish(j, "stopped: "+j.stopReason())
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, l.cfg.MaxBackoff)
		j.mu.Lock()
		j.status.Restarts++
		j.mu.Unlock()
	}
}

// runOnce calls Run, turning a panic into an error so one bad stream cannot
// take the standalone process down.
func (l *Local) runOnce(ctx context.Context, t Task) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("worker panicked: %v", r)
		}
	}()
	return l.cfg.Run(ctx, t)
}

func (j *localJob) stopReason() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.reason
}

func (l *Local) finish(j *localJob, reason string) {
	j.mu.Lock()
	j.status.State, j.status.StoppedReason, j.status.StoppedAt = StateStopped, reason, time.Now()
	j.mu.Unlock()
}

// Stop cancels the worker and waits for it to return (until ctx ends).
func (l *Local) Stop(ctx context.Context, handle, reason string) error {
	l.mu.Lock()
	j := l.jobs[handle]
	l.mu.Unlock()
	if j == nil {
		return nil
	}
	j.mu.Lock()
	if j.reason == "" {
		j.reason = reason
	}
	j.mu.Unlock()
	j.cancel()
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop worker %s: %w", handle, ctx.Err())
	}
}

// Describe implements Runner.
func (l *Local) Describe(_ context.Context, handle string) (Status, error) {
	l.mu.Lock()
	j := l.jobs[handle]
	l.mu.Unlock()
	if j == nil {
		return Status{}, fmt.Errorf("describe %s: %w", handle, ErrUnknownTask)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status, nil
}

// List returns the status of every task started and not yet forgotten.
func (l *Local) List() []Status {
	l.mu.Lock()
	jobs := make([]*localJob, 0, len(l.jobs))
	for _, j := range l.jobs {
		jobs = append(jobs, j)
	}
	l.mu.Unlock()
	out := make([]Status, 0, len(jobs))
	for _, j := range jobs {
		j.mu.Lock()
		out = append(out, j.status)
		j.mu.Unlock()
	}
	return out
}

// Close stops every worker and waits for them (until ctx ends).
func (l *Local) Close(ctx context.Context) error {
	l.mu.Lock()
	for _, j := range l.jobs {
		j.mu.Lock()
		if j.reason == "" {
			j.reason = "shutdown"
		}
		j.mu.Unlock()
		j.cancel()
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close local runner: %w", ctx.Err())
	}
}
