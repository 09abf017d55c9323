// Package ecsrunner runs workers as ECS tasks (Fargate or Fargate Spot): one
// RunTask per worker with the channel's task size mapped to a task definition
// and the stream passed as container overrides; StopTask to stop it. Its
// settings come from the environment terraform/modules/events gives the
// scheduler function.
package ecsrunner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/livestack/livestack/shared/runner"
)

// Environment variables (terraform/modules/events, the scheduler function).
const (
	EnvCluster          = "LIVESTACK_CLUSTER"
	EnvTaskDefinitions  = "LIVESTACK_WORKER_TASK_DEFINITIONS" // JSON {"small":"arn:...",...}
	EnvSubnets          = "LIVESTACK_WORKER_SUBNETS"          // comma-separated
	EnvSecurityGroups   = "LIVESTACK_WORKER_SECURITY_GROUPS"  // comma-separated
	EnvCapacityProvider = "LIVESTACK_WORKER_CAPACITY_PROVIDER"
	EnvRecordTaskSize   = "LIVESTACK_RECORD_TASK_SIZE"
	EnvTranscodeSize    = "LIVESTACK_TRANSCODE_TASK_SIZE"
)

// Capacity providers.
const (
	Fargate     = "FARGATE"
	FargateSpot = "FARGATE_SPOT"
)

// ContainerName is the worker's container in every worker task definition
// (terraform/modules/processing).
const ContainerName = "worker"

// StartedBy marks the tasks this runner starts.
const StartedBy = "livestack-scheduler"

// Tag keys put on every worker task.
const (
	TagChannel   = "livestack:channel"
	TagBroadcast = "livestack:broadcast"
)

// API is the part of the ECS client the runner uses; *ecs.Client implements it.
type API interface {
	RunTask(ctx context.Context, in *ecs.RunTaskInput, opts ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
	StopTask(ctx context.Context, in *ecs.StopTaskInput, opts ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, opts ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

// Config of a Runner.
type Config struct {
	Client  API
	Cluster string
	// TaskDefinitions maps a task size to a task definition ARN.
	TaskDefinitions map[string]string
	Subnets         []string
	SecurityGroups  []string
	// AssignPublicIP gives tasks a public address (subnets without NAT).
	AssignPublicIP bool
}

// Settings are the scheduling choices the environment makes: which task size
// a channel gets and whether workers run on Fargate Spot.
type Settings struct {
	RecordSize    string
	TranscodeSize string
	Spot          bool
}

// Runner implements runner.Runner on ECS.
type Runner struct{ cfg Config }

var _ runner.Runner = (*Runner)(nil)

// New checks cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("ecs runner: nil client")
	case cfg.Cluster == "":
		return nil, errors.New("ecs runner: cluster is required")
	case len(cfg.TaskDefinitions) == 0:
		return nil, errors.New("ecs runner: no task definitions")
	case len(cfg.Subnets) == 0:
		return nil, errors.New("ecs runner: no subnets")
	}
	return &Runner{cfg: cfg}, nil
}

// ConfigFromEnv reads the runner configuration and the scheduling settings
// from the environment; client is the ECS client to use.
func ConfigFromEnv(client API) (Config, Settings, error) {
	cfg := Config{
		Client: client, Cluster: os.Getenv(EnvCluster),
		Subnets: splitList(os.Getenv(EnvSubnets)), SecurityGroups: splitList(os.Getenv(EnvSecurityGroups)),
	}
	if raw := os.Getenv(EnvTaskDefinitions); raw != "" {
		if err := json.Unmarshal([]byte(raw), &cfg.TaskDefinitions); err != nil {
			return Config{}, Settings{}, fmt.Errorf("%s: %w", EnvTaskDefinitions, err)
		}
	}
	set := Settings{RecordSize: os.Getenv(EnvRecordTaskSize), TranscodeSize: os.Getenv(EnvTranscodeSize)}
	switch cp := os.Getenv(EnvCapacityProvider); cp {
	case "", Fargate:
	case FargateSpot:
		set.Spot = true
	default:
		return Config{}, Settings{}, fmt.Errorf("%s=%q: want %s or %s", EnvCapacityProvider, cp, Fargate, FargateSpot)
	}
	for _, size := range []string{set.RecordSize, set.TranscodeSize} {
		if size == "" {
			return Config{}, Settings{}, fmt.Errorf("%s and %s are required", EnvRecordTaskSize, EnvTranscodeSize)
		}
		if _, ok := cfg.TaskDefinitions[size]; !ok {
			return Config{}, Settings{}, fmt.Errorf("task size %q has no task definition in %s", size, EnvTaskDefinitions)
		}
	}
	if cfg.Cluster == "" || len(cfg.Subnets) == 0 {
		return Config{}, Settings{}, fmt.Errorf("%s and %s are required", EnvCluster, EnvSubnets)
	}
	return cfg, set, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ClientToken is the RunTask idempotency token of a task's attempt: a
// retried RunTask for the same broadcast and attempt starts no second task.
func ClientToken(t runner.Task) string {
	sum := sha256.Sum256([]byte(t.ChannelID + "\x00" + t.BroadcastID + "\x00" + strconv.Itoa(t.Attempt)))
	return hex.EncodeToString(sum[:]) // 64 characters, RunTask's limit
}

// Start runs one worker task and returns its ARN.
func (r *Runner) Start(ctx context.Context, t runner.Task) (string, error) {
	def, ok := r.cfg.TaskDefinitions[t.Size]
	if !ok {
		return "", fmt.Errorf("start worker %s: task size %q has no task definition", t.ChannelID, t.Size)
	}
	env := t.Env()
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	kv := make([]types.KeyValuePair, 0, len(names))
	for _, k := range names {
		kv = append(kv, types.KeyValuePair{Name: aws.String(k), Value: aws.String(env[k])})
	}
	cp := Fargate
	if t.Spot {
		cp = FargateSpot
	}
	public := types.AssignPublicIpDisabled
	if r.cfg.AssignPublicIP {
		public = types.AssignPublicIpEnabled
	}
	out, err := r.cfg.Client.RunTask(ctx, &ecs.RunTaskInput{
		Cluster:                  aws.String(r.cfg.Cluster),
		TaskDefinition:           aws.String(def),
		Count:                    aws.Int32(1),
		CapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String(cp), Weight: 1}},
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: r.cfg.Subnets, SecurityGroups: r.cfg.SecurityGroups, AssignPublicIp: public,
		}},
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
			Name: aws.String(ContainerName), Environment: kv,
		}}},
		StartedBy:   aws.String(StartedBy),
		ClientToken: aws.String(ClientToken(t)),
		Tags: []types.Tag{
			{Key: aws.String(TagChannel), Value: aws.String(t.ChannelID)},
			{Key: aws.String(TagBroadcast), Value: aws.String(t.BroadcastID)},
		},
		EnableECSManagedTags: true,
	})
	if err != nil {
		return "", fmt.Errorf("start worker %s: run task: %w", t.ChannelID, err)
	}
	if len(out.Tasks) == 0 || out.Tasks[0].TaskArn == nil {
		var reasons []string
		for _, f := range out.Failures {
			reasons = append(reasons, aws.ToString(f.Reason)+" "+aws.ToString(f.Detail))
		}
		return "", fmt.Errorf("start worker %s: run task started nothing: %s", t.ChannelID, strings.Join(reasons, "; "))
	}
	return aws.ToString(out.Tasks[0].TaskArn), nil
}

// Stop stops the task; a task ECS no longer knows is not an error.
func (r *Runner) Stop(ctx context.Context, handle, reason string) error {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	_, err := r.cfg.Client.StopTask(ctx, &ecs.StopTaskInput{
		Cluster: aws.String(r.cfg.Cluster), Task: aws.String(handle), Reason: aws.String(reason),
	})
	var inv *types.InvalidParameterException
	if errors.As(err, &inv) && strings.Contains(strings.ToLower(inv.ErrorMessage()), "not found") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop worker %s: %w", handle, err)
	}
	return nil
}

// Describe reports the task's state.
func (r *Runner) Describe(ctx context.Context, handle string) (runner.Status, error) {
	out, err := r.cfg.Client.DescribeTasks(ctx, &ecs.DescribeTasksInput{
		Cluster: aws.String(r.cfg.Cluster), Tasks: []string{handle},
	})
	if err != nil {
		return runner.Status{}, fmt.Errorf("describe worker %s: %w", handle, err)
	}
	if len(out.Tasks) == 0 {
		return runner.Status{}, fmt.Errorf("describe worker %s: %w", handle, runner.ErrUnknownTask)
	}
	return StatusOf(out.Tasks[0].TaskArn, out.Tasks[0].LastStatus, out.Tasks[0].StoppedReason,
		out.Tasks[0].StartedAt, out.Tasks[0].StoppedAt, exitCode(out.Tasks[0].Containers)), nil
}

func exitCode(cs []types.Container) *int {
	for _, c := range cs {
		if aws.ToString(c.Name) == ContainerName && c.ExitCode != nil {
			v := int(*c.ExitCode)
			return &v
		}
	}
	return nil
}

// StatusOf maps ECS task fields (as DescribeTasks and the "ECS Task State
// Change" event give them) to a runner.Status.
func StatusOf(arn, lastStatus, stoppedReason *string, startedAt, stoppedAt *time.Time, exit *int) runner.Status {
	st := runner.Status{Handle: aws.ToString(arn), StoppedReason: aws.ToString(stoppedReason), ExitCode: exit}
	switch aws.ToString(lastStatus) {
	case "RUNNING":
		st.State = runner.StateRunning
	case "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED", "DELETED":
		st.State = runner.StateStopped
	default: // PROVISIONING, PENDING, ACTIVATING
		st.State = runner.StatePending
	}
	if startedAt != nil {
		st.StartedAt = *startedAt
	}
	if stoppedAt != nil {
		st.StoppedAt = *stoppedAt
	}
	return st
}
