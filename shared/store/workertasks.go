package store

import (
	"context"
	"time"

	"github.com/livestack/livestack/shared/channel"
)

// Worker task states.
const (
	// TaskStarting: the scheduler claimed the broadcast and is starting a task.
	TaskStarting = "starting"
	// TaskRunning: a task was started; Handle names it.
	TaskRunning = "running"
	// TaskStopped: the broadcast ended (or its Stream Stopped came first); no
	// task may be started for it any more.
	TaskStopped = "stopped"
	// TaskFailed: starting failed; a later Stream Started may try again.
	TaskFailed = "failed"
)

// MaxWorkerHandleLength bounds WorkerTask.Handle and BroadcastID.
const MaxWorkerHandleLength = 1024

// WorkerTask is the scheduler's record of the worker of one broadcast (one
// channel's stream from start to stop). It is keyed by channel and broadcast
// so that duplicate and out-of-order events meet the same record, and every
// change is a conditional write on Version.
type WorkerTask struct {
	ChannelID   string `json:"channelId"`
	BroadcastID string `json:"broadcastId"`
	// State is one of the Task* constants.
	State string `json:"state"`
	// Handle names the running task (an ECS task ARN, or a local handle).
	Handle string `json:"handle,omitempty"`
	// Gateway is the address the worker pulls the stream from.
	Gateway string `json:"gateway,omitempty"`
	// Size is the task size the worker was started with.
	Size string `json:"size,omitempty"`
	Spot bool   `json:"spot,omitempty"`
	// Starts counts tasks started for the broadcast (restarts included).
	Starts int `json:"starts"`
	// Version is set by the store: 1 on create, +1 on each update.
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updatedAt"`
	// ExpiresAt is when the record may be deleted (a TTL on DynamoDB).
	ExpiresAt time.Time `json:"expiresAt"`
}

// Validate checks that t can be stored; the error wraps ErrInvalid.
func (t WorkerTask) Validate() error {
	switch {
	case !channel.ValidID(t.ChannelID):
		return invalid("worker task channel id %q is not a valid channel id", t.ChannelID)
	case t.BroadcastID == "" || len(t.BroadcastID) > MaxSessionIDLength:
		return invalid("worker task broadcast id must be 1-%d bytes", MaxSessionIDLength)
	case len(t.Handle) > MaxWorkerHandleLength || len(t.Gateway) > MaxWorkerHandleLength || len(t.Size) > 64:
		return invalid("worker task handle, gateway or size too long")
	}
	switch t.State {
	case TaskStarting, TaskRunning, TaskStopped, TaskFailed:
	default:
		return invalid("worker task state %q", t.State)
	}
	return nil
}

// WorkerTasks is the part of the store the scheduler keeps worker tasks in.
// Both implementations (boltstore, dynamostore) provide it; it is separate
// from Store so that test doubles of Store need not.
type WorkerTasks interface {
	// CreateWorkerTask stores t with Version 1; ErrExists if the channel and
	// broadcast already have a record.
	CreateWorkerTask(ctx context.Context, t WorkerTask) error
	// GetWorkerTask returns the record; ErrNotFound if absent.
	GetWorkerTask(ctx context.Context, channelID, broadcastID string) (WorkerTask, error)
	// UpdateWorkerTask replaces the record if its stored Version is t.Version,
	// storing t with Version+1; ErrConflict if another write came first,
	// ErrNotFound if there is no record.
	UpdateWorkerTask(ctx context.Context, t WorkerTask) error
}
