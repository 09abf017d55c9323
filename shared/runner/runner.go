// Package runner is the port that starts and stops workers: one worker
// process per broadcast that needs pixels changed. On AWS a worker is an ECS
// task (package ecsrunner); in the standalone build it is a function run in
// a goroutine and restarted while its stream is live (Local).
package runner

import (
	"context"
	"errors"
	"time"
)

// Environment variables a worker task receives (ECS container overrides).
// The worker container reads them; keep the names stable.
const (
	EnvChannelID   = "LIVESTACK_CHANNEL_ID"
	EnvBroadcastID = "LIVESTACK_BROADCAST_ID"
	// EnvGateway is host:port of the gateway's HTTP listener (HTTP-FLV pull,
	// internal), as recorded on the session.
	EnvGateway = "LIVESTACK_GATEWAY"
	// EnvGatewayRTMP is host:port of the gateway's RTMP listener, for
	// publishing renditions back; set when known.
	EnvGatewayRTMP = "LIVESTACK_GATEWAY_RTMP"
	EnvTaskSize    = "LIVESTACK_TASK_SIZE"
)

// Task is one worker to run.
type Task struct {
	ChannelID   string
	BroadcastID string
	// Gateway is host:port of the gateway's HTTP listener holding the stream.
	Gateway string
	// GatewayRTMP is host:port of its RTMP listener, when known.
	GatewayRTMP string
	// Region of the gateway (informational).
	Region string
	// Size names the task size ("small", "large"...); ecsrunner maps it to a
	// task definition.
	Size string
	// Spot runs the task on spare capacity (FARGATE_SPOT).
	Spot bool
	// Attempt counts the starts of this broadcast's worker (1 for the first).
	Attempt int
}

// Env is the environment the worker of t receives.
func (t Task) Env() map[string]string {
	env := map[string]string{
		EnvChannelID: t.ChannelID, EnvBroadcastID: t.BroadcastID, EnvGateway: t.Gateway,
	}
	if t.GatewayRTMP != "" {
		env[EnvGatewayRTMP] = t.GatewayRTMP
	}
	if t.Size != "" {
		env[EnvTaskSize] = t.Size
	}
	return env
}

// Task states reported by Describe.
const (
	StatePending = "pending"
	StateRunning = "running"
	StateStopped = "stopped"
)

// Status is what a runner knows of a started task.
type Status struct {
	Handle string
	State  string
	// StoppedReason says why a stopped task stopped.
	StoppedReason string
	// ExitCode of the worker process, when it stopped and reported one.
	ExitCode *int
	// Restarts counts in-place restarts (Local only).
	Restarts  int
	StartedAt time.Time
	StoppedAt time.Time
}

// ErrUnknownTask is returned when a handle names no task the runner knows.
var ErrUnknownTask = errors.New("unknown worker task")

// Runner starts and stops workers. Implementations are safe for concurrent use.
type Runner interface {
	// Start starts a worker for t and returns its handle (an ECS task ARN, or
	// a local handle).
	Start(ctx context.Context, t Task) (handle string, err error)
	// Stop stops the worker; stopping a stopped or unknown worker is not an
	// error.
	Stop(ctx context.Context, handle, reason string) error
	// Describe reports a worker's state; ErrUnknownTask if the runner never
	// heard of it.
	Describe(ctx context.Context, handle string) (Status, error)
}
