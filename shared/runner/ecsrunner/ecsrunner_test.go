package ecsrunner_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/livestack/livestack/shared/runner"
	"github.com/livestack/livestack/shared/runner/ecsrunner"
	"github.com/livestack/livestack/shared/runner/ecsrunner/ecstest"
)

const cluster = "arn:aws:ecs:eu-west-1:111122223333:cluster/livestack"

func newRunner(t *testing.T) (*ecsrunner.Runner, *ecstest.Server) {
	fake := ecstest.New(t)
	r, err := ecsrunner.New(ecsrunner.Config{
		Client: fake.Client(), Cluster: cluster,
		TaskDefinitions: map[string]string{
			"small": "arn:aws:ecs:eu-west-1:111122223333:task-definition/livestack-worker-small:3",
			"large": "arn:aws:ecs:eu-west-1:111122223333:task-definition/livestack-worker-large:3",
		},
		Subnets: []string{"subnet-a", "subnet-b"}, SecurityGroups: []string{"sg-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, fake
}

func TestRunTaskRequest(t *testing.T) {
	tests := []struct {
		name, size, provider, def string
		spot                      bool
	}{
		{"fargate small", "small", "FARGATE", "livestack-worker-small:3", false},
		{"spot large", "large", "FARGATE_SPOT", "livestack-worker-large:3", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, fake := newRunner(t)
			task := runner.Task{ChannelID: "cam-1", BroadcastID: "b-42", Gateway: "10.0.3.7:8080",
				GatewayRTMP: "10.0.3.7:1935", Size: tc.size, Spot: tc.spot, Attempt: 1}
			arn, err := r.Start(context.Background(), task)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(arn, "arn:aws:ecs:eu-west-1:111122223333:task/livestack/") {
				t.Fatalf("arn %q", arn)
			}
			calls := fake.Calls("RunTask")
			if len(calls) != 1 {
				t.Fatalf("%d RunTask calls", len(calls))
			}
			b := calls[0].Body
			if b["cluster"] != cluster || !strings.HasSuffix(b["taskDefinition"].(string), tc.def) || b["count"] != 1.0 {
				t.Errorf("cluster/definition/count: %v %v %v", b["cluster"], b["taskDefinition"], b["count"])
			}
			if _, set := b["launchType"]; set {
				t.Error("launchType set together with a capacity provider strategy")
			}
			cps := b["capacityProviderStrategy"].([]any)
			if len(cps) != 1 || cps[0].(map[string]any)["capacityProvider"] != tc.provider {
				t.Errorf("capacity providers %v, want %s", cps, tc.provider)
			}
			vpc := b["networkConfiguration"].(map[string]any)["awsvpcConfiguration"].(map[string]any)
			if len(vpc["subnets"].([]any)) != 2 || vpc["securityGroups"].([]any)[0] != "sg-1" || vpc["assignPublicIp"] != "DISABLED" {
				t.Errorf("network %v", vpc)
			}
			co := b["overrides"].(map[string]any)["containerOverrides"].([]any)[0].(map[string]any)
			if co["name"] != "worker" {
				t.Errorf("override container %v", co["name"])
			}
			env := ecstest.Env(calls[0])
			want := map[string]string{runner.EnvChannelID: "cam-1", runner.EnvBroadcastID: "b-42",
				runner.EnvGateway: "10.0.3.7:8080", runner.EnvGatewayRTMP: "10.0.3.7:1935", runner.EnvTaskSize: tc.size}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("env %s = %q, want %q", k, env[k], v)
				}
			}
			if tok, _ := b["clientToken"].(string); len(tok) != 64 || tok != ecsrunner.ClientToken(task) {
				t.Errorf("client token %q", tok)
			}
			if b["startedBy"] != ecsrunner.StartedBy {
				t.Errorf("startedBy %v", b["startedBy"])
			}
			if _, set := b["group"]; set {
				t.Error("group set: the worker_state rule matches the default family:NAME group")
			}
			// The same attempt again (a retried event) starts nothing new.
			again, err := r.Start(context.Background(), task)
			if err != nil || again != arn {
				t.Fatalf("retried start: %q %v, want %q", again, err, arn)
			}
		})
	}
}

func TestStartStopDescribe(t *testing.T) {
	r, fake := newRunner(t)
	ctx := context.Background()
	if _, err := r.Start(ctx, runner.Task{ChannelID: "c", BroadcastID: "b", Size: "medium"}); err == nil || !strings.Contains(err.Error(), "medium") {
		t.Fatalf("unknown size: %v", err)
	}
	fake.FailRunTask = "RESOURCE:CPU"
	if _, err := r.Start(ctx, runner.Task{ChannelID: "c", BroadcastID: "b", Size: "small"}); err == nil || !strings.Contains(err.Error(), "RESOURCE:CPU") {
		t.Fatalf("failure: %v", err)
	}
	fake.FailRunTask = ""
	arn, err := r.Start(ctx, runner.Task{ChannelID: "c", BroadcastID: "b", Size: "small", Attempt: 2})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Describe(ctx, arn)
	if err != nil || st.State != runner.StatePending {
		t.Fatalf("describe %+v %v", st, err)
	}
	fake.SetStatus(arn, "RUNNING")
	if st, _ := r.Describe(ctx, arn); st.State != runner.StateRunning {
		t.Fatalf("describe %+v", st)
	}
	if err := r.Stop(ctx, arn, "stream stopped"); err != nil {
		t.Fatal(err)
	}
	stops := fake.Calls("StopTask")
	if len(stops) != 1 || stops[0].Body["task"] != arn || stops[0].Body["reason"] != "stream stopped" || stops[0].Body["cluster"] != cluster {
		t.Fatalf("StopTask %+v", stops)
	}
	if st, _ := r.Describe(ctx, arn); st.State != runner.StateStopped {
		t.Fatalf("describe %+v", st)
	}
	if err := r.Stop(ctx, "arn:aws:ecs:eu-west-1:111122223333:task/livestack/gone", "x"); err != nil {
		t.Fatalf("stop of an unknown task: %v", err)
	}
	if _, err := r.Describe(ctx, "arn:aws:ecs:eu-west-1:111122223333:task/livestack/gone"); !errors.Is(err, runner.ErrUnknownTask) {
		t.Fatalf("describe unknown: %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv(ecsrunner.EnvCluster, cluster)
	t.Setenv(ecsrunner.EnvTaskDefinitions, `{"small":"arn:def-small","large":"arn:def-large"}`)
	t.Setenv(ecsrunner.EnvSubnets, "subnet-a, subnet-b")
	t.Setenv(ecsrunner.EnvSecurityGroups, "sg-1")
	t.Setenv(ecsrunner.EnvCapacityProvider, "FARGATE_SPOT")
	t.Setenv(ecsrunner.EnvRecordTaskSize, "small")
	t.Setenv(ecsrunner.EnvTranscodeSize, "large")
	cfg, set, err := ecsrunner.ConfigFromEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster != cluster || len(cfg.Subnets) != 2 || cfg.Subnets[1] != "subnet-b" || cfg.TaskDefinitions["large"] != "arn:def-large" {
		t.Errorf("cfg %+v", cfg)
	}
	if !set.Spot || set.RecordSize != "small" || set.TranscodeSize != "large" {
		t.Errorf("settings %+v", set)
	}
	bad := []struct{ env, value string }{
		{ecsrunner.EnvCapacityProvider, "EC2"},
		{ecsrunner.EnvTranscodeSize, "xlarge"},
		{ecsrunner.EnvTaskDefinitions, "{"},
		{ecsrunner.EnvSubnets, ""},
	}
	for _, b := range bad {
		t.Run(b.env, func(t *testing.T) {
			t.Setenv(b.env, b.value)
			if _, _, err := ecsrunner.ConfigFromEnv(nil); err == nil {
				t.Errorf("%s=%q accepted", b.env, b.value)
			}
		})
	}
}

// The environment names and the container name must be the ones Terraform
// gives the scheduler function and the worker task definitions.
func TestNamesMatchTerraform(t *testing.T) {
	events, err := os.ReadFile("../../../terraform/modules/events/main.tf")
	if err != nil {
		t.Skip("terraform not present:", err)
	}
	for _, name := range []string{ecsrunner.EnvCluster, ecsrunner.EnvTaskDefinitions, ecsrunner.EnvSubnets,
		ecsrunner.EnvSecurityGroups, ecsrunner.EnvCapacityProvider, ecsrunner.EnvRecordTaskSize, ecsrunner.EnvTranscodeSize} {
		if !regexp.MustCompile(`\b` + name + `\s*=`).Match(events) {
			t.Errorf("%s is not set by terraform/modules/events", name)
		}
	}
	processing, err := os.ReadFile("../../../terraform/modules/processing/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`name\s*=\s*"` + ecsrunner.ContainerName + `"`).Match(processing) {
		t.Errorf("worker container %q not in terraform/modules/processing", ecsrunner.ContainerName)
	}
}
