package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/runner"
	"github.com/livestack/livestack/shared/runner/ecsrunner"
)

// Envelope is an EventBridge event as a Lambda target receives it.
type Envelope struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Region     string          `json:"region"`
	Time       time.Time       `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

// ECS task state change events.
const (
	SourceECS           = "aws.ecs"
	TypeTaskStateChange = "ECS Task State Change"
)

// ecsTaskDetail is the part of an "ECS Task State Change" detail used here.
type ecsTaskDetail struct {
	TaskArn       string `json:"taskArn"`
	ClusterArn    string `json:"clusterArn"`
	LastStatus    string `json:"lastStatus"`
	DesiredStatus string `json:"desiredStatus"`
	Group         string `json:"group"`
	StartedBy     string `json:"startedBy"`
	StoppedReason string `json:"stoppedReason"`
	StopCode      string `json:"stopCode"`
	Overrides     struct {
		ContainerOverrides []struct {
			Name        string `json:"name"`
			Environment []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"environment"`
		} `json:"containerOverrides"`
	} `json:"overrides"`
}

// ParseTaskStateChange reads an "ECS Task State Change" detail. It returns
// ok=false for changes that are not a worker of this scheduler reaching
// STOPPED (other states, other tasks).
func ParseTaskStateChange(detail []byte) (TaskEnded, bool, error) {
	var d ecsTaskDetail
	if err := json.Unmarshal(detail, &d); err != nil {
		return TaskEnded{}, false, fmt.Errorf("decode ECS task state change: %w", err)
	}
	if d.LastStatus != "STOPPED" || d.TaskArn == "" {
		return TaskEnded{}, false, nil
	}
	e := TaskEnded{Handle: d.TaskArn, Reason: strings.TrimSpace(d.StopCode + " " + d.StoppedReason)}
	for _, co := range d.Overrides.ContainerOverrides {
		if co.Name != ecsrunner.ContainerName {
			continue
		}
		for _, kv := range co.Environment {
			switch kv.Name {
			case runner.EnvChannelID:
				e.ChannelID = kv.Value
			case runner.EnvBroadcastID:
				e.BroadcastID = kv.Value
			}
		}
	}
	if e.ChannelID == "" || e.BroadcastID == "" {
		return TaskEnded{}, false, nil
	}
	return e, true, nil
}

// HandleEnvelope dispatches one EventBridge event: livestack stream events
// and ECS task state changes of workers. Anything else is refused, so a
// misrouted rule shows up in the dead-letter queue instead of vanishing.
func (s *Scheduler) HandleEnvelope(ctx context.Context, env Envelope) error {
	if env.Source == SourceECS {
		if env.DetailType != TypeTaskStateChange {
			return fmt.Errorf("event %s: unexpected %s event %q", env.ID, SourceECS, env.DetailType)
		}
		e, ok, err := ParseTaskStateChange(env.Detail)
		if err != nil {
			return fmt.Errorf("event %s: %w", env.ID, err)
		}
		if !ok {
			return nil
		}
		return s.TaskStopped(ctx, e)
	}
	ev, err := events.FromEnvelope(env.ID, env.Source, env.DetailType, env.Region, env.Time, env.Detail)
	if err != nil {
		return err
	}
	return s.Handle(ctx, ev)
}
