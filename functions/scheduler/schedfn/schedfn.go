// Package schedfn is the scheduler function: EventBridge delivers stream
// events ("Stream Started", "Stream Stopped" from livestack sources) and ECS
// "Task State Change" events of workers; shared/scheduler decides, with the
// ECS runner and the DynamoDB store.
package schedfn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/livestack/livestack/shared/runner/ecsrunner"
	"github.com/livestack/livestack/shared/scheduler"
	"github.com/livestack/livestack/shared/store/dynamostore"
)

// Handler handles one EventBridge event per invocation.
type Handler struct {
	Scheduler *scheduler.Scheduler
	Logger    *slog.Logger
}

// Invoke decodes the EventBridge envelope and hands it to the scheduler. An
// error makes Lambda retry the event (and, in the end, send it to the
// dead-letter queue); the scheduler is idempotent, so retries are safe.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) error {
	var env scheduler.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("scheduler: decode event: %w", err)
	}
	if err := h.Scheduler.HandleEnvelope(ctx, env); err != nil {
		h.Logger.Error("event failed", "id", env.ID, "source", env.Source, "type", env.DetailType, "err", err)
		return err
	}
	return nil
}

// FromEnv builds the handler from the function's environment
// (terraform/modules/events): LIVESTACK_TABLE, LIVESTACK_CLUSTER,
// LIVESTACK_WORKER_* and the task sizes.
func FromEnv(ctx context.Context, log *slog.Logger) (*Handler, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("scheduler: aws config: %w", err)
	}
	rcfg, set, err := ecsrunner.ConfigFromEnv(ecs.NewFromConfig(awsCfg))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	run, err := ecsrunner.New(rcfg)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	st, err := dynamostore.FromEnv(ctx)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s, err := scheduler.New(scheduler.Config{
		Store: st, Runner: run, RecordSize: set.RecordSize, TranscodeSize: set.TranscodeSize, Spot: set.Spot, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return &Handler{Scheduler: s, Logger: log}, nil
}
