package schedfn

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/runner"
	"github.com/livestack/livestack/shared/runner/ecsrunner"
	"github.com/livestack/livestack/shared/runner/ecsrunner/ecstest"
	"github.com/livestack/livestack/shared/scheduler/dynalitetest"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/dynamostore"
)

var emu dynalitetest.Emulator

func TestMain(m *testing.M) {
	code := m.Run()
	emu.Stop()
	os.Exit(code)
}

const cluster = "arn:aws:ecs:eu-west-1:111122223333:cluster/livestack"

type fixture struct {
	h   *Handler
	ecs *ecstest.Server
	st  *dynamostore.Store
}

// newFixture wires the function as Lambda does (FromEnv, with the
// environment terraform/modules/events sets), with ECS on a recording
// endpoint and DynamoDB on dynalite.
func newFixture(t *testing.T) *fixture {
	endpoint, table := emu.Table(t)
	fake := ecstest.New(t)
	for k, v := range map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL_ECS": fake.URL, dynamostore.EnvTable: table, dynamostore.EnvEndpoint: endpoint,
		ecsrunner.EnvCluster: cluster,
		ecsrunner.EnvTaskDefinitions: `{"small":"arn:aws:ecs:eu-west-1:111122223333:task-definition/livestack-worker-small:3",` +
			`"large":"arn:aws:ecs:eu-west-1:111122223333:task-definition/livestack-worker-large:3"}`,
		ecsrunner.EnvSubnets: "subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788", ecsrunner.EnvSecurityGroups: "sg-0123456789abcdef0",
		ecsrunner.EnvCapacityProvider: "FARGATE_SPOT", ecsrunner.EnvRecordTaskSize: "small", ecsrunner.EnvTranscodeSize: "large",
	} {
		t.Setenv(k, v)
	}
	h, err := FromEnv(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := dynamostore.FromEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ch := &channel.Channel{ID: "cam-1", Name: "Lobby", Enabled: true,
		Transcode: channel.Transcode{Enabled: true, Codec: "h264", Renditions: []string{"360p", "720p"}}}
	ch.Normalize()
	if err := st.CreateChannel(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	return &fixture{h: h, ecs: fake, st: st}
}

func sample(t *testing.T, name string, edit func(map[string]any)) json.RawMessage {
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return raw
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	edit(ev)
	out, _ := json.Marshal(ev)
	return out
}

// taskStopped is the real ECS sample with the task ARN of the task the test started.
func taskStopped(t *testing.T, arn string) json.RawMessage {
	return sample(t, "ecs-task-stopped.json", func(ev map[string]any) {
		d := ev["detail"].(map[string]any)
		d["taskArn"] = arn
		for _, c := range d["containers"].([]any) {
			c.(map[string]any)["taskArn"] = arn
		}
	})
}

const broadcast = "4f1c9b2e7a6d3c58"

func TestStreamLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	started := sample(t, "stream-started.json", nil)
	if err := f.h.Invoke(ctx, started); err != nil {
		t.Fatal(err)
	}
	runs := f.ecs.Calls("RunTask")
	if len(runs) != 1 {
		t.Fatalf("%d RunTask calls, want 1", len(runs))
	}
	b := runs[0].Body
	if b["cluster"] != cluster || !strings.HasSuffix(b["taskDefinition"].(string), "livestack-worker-large:3") {
		t.Errorf("cluster %v definition %v", b["cluster"], b["taskDefinition"])
	}
	if cp := b["capacityProviderStrategy"].([]any)[0].(map[string]any)["capacityProvider"]; cp != "FARGATE_SPOT" {
		t.Errorf("capacity provider %v", cp)
	}
	vpc := b["networkConfiguration"].(map[string]any)["awsvpcConfiguration"].(map[string]any)
	if len(vpc["subnets"].([]any)) != 2 || vpc["securityGroups"].([]any)[0] != "sg-0123456789abcdef0" {
		t.Errorf("network %v", vpc)
	}
	env := ecstest.Env(runs[0])
	if env[runner.EnvChannelID] != "cam-1" || env[runner.EnvBroadcastID] != broadcast || env[runner.EnvGateway] != "10.0.3.7:8080" || env[runner.EnvTaskSize] != "large" {
		t.Errorf("overrides %v", env)
	}
	rec, err := f.st.GetWorkerTask(ctx, "cam-1", broadcast)
	if err != nil || rec.State != store.TaskRunning || !strings.HasPrefix(rec.Handle, "arn:aws:ecs:eu-west-1:111122223333:task/livestack/") {
		t.Fatalf("record %+v %v", rec, err)
	}
	first := rec.Handle

	// EventBridge delivers at least once: the same event again starts nothing.
	if err := f.h.Invoke(ctx, started); err != nil {
		t.Fatal(err)
	}
	if n := len(f.ecs.Calls("RunTask")); n != 1 {
		t.Fatalf("duplicate Started: %d RunTask calls", n)
	}

	// The worker is interrupted (Spot) while the stream is live: started again.
	now := time.Now()
	if err := f.st.AcquireSession(ctx, store.Session{ChannelID: "cam-1", SessionID: broadcast, Gateway: "10.0.3.7:8080",
		Region: "eu-west-1", StartedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := f.h.Invoke(ctx, taskStopped(t, first)); err != nil {
		t.Fatal(err)
	}
	runs = f.ecs.Calls("RunTask")
	if len(runs) != 2 || runs[1].Body["clientToken"] == runs[0].Body["clientToken"] {
		t.Fatalf("restart: %d RunTask calls", len(runs))
	}
	rec, _ = f.st.GetWorkerTask(ctx, "cam-1", broadcast)
	if rec.Handle == first || rec.Starts != 2 || rec.State != store.TaskRunning {
		t.Fatalf("record after restart %+v", rec)
	}
	second := rec.Handle
	// The first task's STOPPED delivered again is stale now.
	if err := f.h.Invoke(ctx, taskStopped(t, first)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.ecs.Calls("RunTask")); n != 2 {
		t.Fatalf("stale task event: %d RunTask calls", n)
	}

	// The stream stops: StopTask on the current task.
	if err := f.st.ReleaseSession(ctx, "cam-1", broadcast); err != nil {
		t.Fatal(err)
	}
	if err := f.h.Invoke(ctx, sample(t, "stream-stopped.json", nil)); err != nil {
		t.Fatal(err)
	}
	stops := f.ecs.Calls("StopTask")
	if len(stops) != 1 || stops[0].Body["task"] != second || stops[0].Body["cluster"] != cluster {
		t.Fatalf("StopTask %+v", stops)
	}
	// Its STOPPED event then starts nothing.
	if err := f.h.Invoke(ctx, taskStopped(t, second)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.ecs.Calls("RunTask")); n != 2 {
		t.Fatalf("after stop: %d RunTask calls", n)
	}
	// A late duplicate Started of the finished broadcast starts nothing either.
	if err := f.h.Invoke(ctx, started); err != nil {
		t.Fatal(err)
	}
	if n := len(f.ecs.Calls("RunTask")); n != 2 {
		t.Fatalf("late Started: %d RunTask calls", n)
	}
}

func TestStoppedBeforeStarted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.h.Invoke(ctx, sample(t, "stream-stopped.json", nil)); err != nil {
		t.Fatal(err)
	}
	if err := f.h.Invoke(ctx, sample(t, "stream-started.json", nil)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.ecs.Calls("")); n != 0 {
		t.Fatalf("%d ECS calls for a broadcast that already stopped", n)
	}
}

func TestRefusedEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for name, raw := range map[string]json.RawMessage{
		"not JSON":       json.RawMessage(`"hello"`),
		"foreign source": sample(t, "stream-started.json", func(ev map[string]any) { ev["source"] = "com.example" }),
		"no broadcast": sample(t, "stream-started.json", func(ev map[string]any) {
			delete(ev["detail"].(map[string]any), "broadcastId")
		}),
	} {
		if err := f.h.Invoke(ctx, raw); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// RunTask failing (no capacity) is an error, so Lambda retries; the retry starts it.
	f.ecs.FailRunTask = "RESOURCE:FARGATE"
	if err := f.h.Invoke(ctx, sample(t, "stream-started.json", nil)); err == nil || !strings.Contains(err.Error(), "RESOURCE:FARGATE") {
		t.Fatalf("failed RunTask: %v", err)
	}
	f.ecs.FailRunTask = ""
	if err := f.h.Invoke(ctx, sample(t, "stream-started.json", nil)); err != nil {
		t.Fatal(err)
	}
	rec, err := f.st.GetWorkerTask(ctx, "cam-1", broadcast)
	if err != nil || rec.State != store.TaskRunning {
		t.Fatalf("record after retry %+v %v", rec, err)
	}
}
