package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/livestack/livestack/functions/ingestauth/ingestfn"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/events/eventbridgetest"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/rtmpclient"
	"github.com/livestack/livestack/shared/runner/ecsrunner"
	"github.com/livestack/livestack/shared/runner/ecsrunner/ecstest"
	"github.com/livestack/livestack/shared/scheduler"
	"github.com/livestack/livestack/shared/scheduler/dynalitetest"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/dynamostore"
)

var emu dynalitetest.Emulator

func TestMain(m *testing.M) {
	code := m.Run()
	emu.Stop()
	os.Exit(code)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

const pushKey = "k9F2mQ7xR4tV8wZ1nB6cD3eG5hJ0pL2sU7yA9qW4rT6vX8zC1bN3mK5jH7gF0dS2"

// requireSigV4 checks that r carries a SigV4 signature for the lambda service.
func requireSigV4(r *http.Request) bool {
	a := r.Header.Get("Authorization")
	return strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") && strings.Contains(a, "/eu-west-1/lambda/aws4_request") &&
		strings.Contains(a, "SignedHeaders=") && r.Header.Get("X-Amz-Date") != "" && r.Header.Get("X-Amz-Content-Sha256") != ""
}

// functionURL serves h as a Lambda function URL with AWS_IAM auth would:
// unsigned requests get 403 {"Message":"Forbidden"}.
func functionURL(t *testing.T, h *ingestfn.Handler) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !requireSigV4(r) {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"Message":"Forbidden"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req := ingestfn.Request{Version: "2.0", RawPath: r.URL.Path, Headers: map[string]string{}, Body: string(body)}
		req.RequestContext.HTTP.Method = r.Method
		for k := range r.Header {
			req.Headers[strings.ToLower(k)] = r.Header.Get(k)
		}
		resp := h.Serve(r.Context(), req)
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// lambdaAPI serves the Invoke API for function fn with h.
func lambdaAPI(t *testing.T, fn string, h *ingestfn.Handler) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !requireSigV4(r) {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"Type":"User","message":"missing authentication"}`)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/"+fn+"/invocations" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.EscapedPath(), 404)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		resp, err := h.Invoke(r.Context(), raw)
		if err != nil {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_ = json.NewEncoder(w).Encode(map[string]string{"errorMessage": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func clip(t *testing.T) []flv.Tag {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatalf("ffmpeg is required: %v", err)
		}
		t.Skip("ffmpeg not installed")
	}
	p := filepath.Join(t.TempDir(), "clip.flv")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "flv", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tags []flv.Tag
	r := flv.NewReader(f, 0)
	for {
		tag, err := r.Next()
		if err == io.EOF {
			return tags
		}
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, tag)
	}
}

// A publish through the gateway container in its AWS wiring: the callback
// reaches ingestauth (SigV4 + HMAC, over the function URL or the Invoke API),
// the session lands in DynamoDB, both ingestauth and the gateway announce the
// stream on EventBridge with the same broadcast id and the advertised
// gateway address, and the scheduler fed those events runs exactly one worker
// task with that address and stops it when the stream ends.
func TestAWSPublishToScheduler(t *testing.T) {
	tags := clip(t)
	for _, mode := range []string{"function-url", "invoke"} {
		t.Run(mode, func(t *testing.T) {
			endpoint, table := emu.Table(t)
			eb := eventbridgetest.New(t)
			for k, v := range map[string]string{
				"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret",
				"AWS_ENDPOINT_URL_EVENTBRIDGE": eb.URL, dynamostore.EnvTable: table, dynamostore.EnvEndpoint: endpoint,
				EnvEventBus: "livestack", ingestfn.EnvPushKey: hex.EncodeToString([]byte(pushKey)),
				ingestfn.EnvCallbackSecret: "", EnvBucket: "", EnvCallbackURL: "", EnvIngestAuthURL: "", EnvIngestAuthFunction: "",
				"ECS_CONTAINER_METADATA_URI_V4": "",
			} {
				t.Setenv(k, v)
			}
			ctx := context.Background()
			st, err := dynamostore.FromEnv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ch := &channel.Channel{ID: "cam-1", Name: "Lobby", Enabled: true,
				Transcode: channel.Transcode{Enabled: true, Codec: "h264", Renditions: []string{"360p"}}}
			ch.Normalize()
			if err := st.CreateChannel(ctx, ch); err != nil {
				t.Fatal(err)
			}
			signer, _ := signing.New([]byte(pushKey))
			fn, err := ingestfn.FromEnv(ctx, quiet())
			if err != nil {
				t.Fatal(err)
			}
			const arn = "arn:aws:lambda:eu-west-1:111122223333:function:livestack-ingestauth"
			if mode == "function-url" {
				t.Setenv(EnvIngestAuthURL, functionURL(t, fn).URL+"/")
			} else {
				t.Setenv(EnvIngestAuthFunction, arn)
				t.Setenv(EnvLambdaEndpoint, lambdaAPI(t, arn, fn).URL)
			}

			gctx, cancel := context.WithCancel(ctx)
			ready := make(chan started, 1)
			done := make(chan error, 1)
			go func() {
				done <- run(gctx, []string{"-rtmp-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
					"-advertise", "10.9.8.7:8080", "-reconnect-window", "300ms", "-data-dir", t.TempDir()}, ready)
			}()
			var gw started
			select {
			case gw = <-ready:
			case err := <-done:
				t.Fatalf("gateway did not start: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("gateway did not start in 20 s")
			}
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("gateway: %v", err)
				}
			}()

			url := "rtmp://" + gw.Gateway.Addrs().RTMP + "/stream/cam-1?sign=" + signer.Sign("cam-1", time.Now().Add(time.Hour))
			pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
			defer pcancel()
			p, err := rtmpclient.Publish(pctx, url, rtmpclient.Config{})
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
			start := time.Now()
			for _, tag := range tags {
				if tag.Type != flv.TagScript {
					time.Sleep(time.Until(start.Add(time.Duration(tag.Timestamp) * time.Millisecond)))
				}
				if err := p.WriteTag(tag.Type, tag.Timestamp, tag.Data); err != nil {
					t.Fatal(err)
				}
			}
			sess, err := st.GetSession(ctx, "cam-1")
			if err != nil || sess.Gateway != "10.9.8.7:8080" || sess.Region != "eu-west-1" {
				t.Fatalf("session %+v %v", sess, err)
			}
			_ = p.Close()
			waitFor(t, func() bool { return len(eb.Entries()) >= 4 }, "4 stream events (Started and Stopped from ingestauth and the gateway)")

			var envs []scheduler.Envelope
			count := map[string]int{}
			for i, e := range eb.Entries() {
				var d events.StreamDetail
				if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
					t.Fatal(err)
				}
				if d.ChannelID != "cam-1" || d.BroadcastID != sess.SessionID || d.Gateway != "10.9.8.7:8080" || d.Region != "eu-west-1" {
					t.Errorf("entry %d (%s from %s): %+v", i, e.DetailType, e.Source, d)
				}
				count[e.Source+" "+e.DetailType]++
				envs = append(envs, scheduler.Envelope{ID: "e" + string(rune('0'+i)), Source: e.Source, DetailType: e.DetailType,
					Region: "eu-west-1", Time: time.Now(), Detail: json.RawMessage(e.Detail)})
			}
			for _, k := range []string{"livestack.ingestauth Stream Started", "livestack.ingestauth Stream Stopped",
				"livestack.gateway Stream Started", "livestack.gateway Stream Stopped"} {
				if count[k] != 1 {
					t.Errorf("%q: %d events, want 1 (%v)", k, count[k], count)
				}
			}

			// The scheduler Lambda, fed these events: one task despite two producers.
			fake := ecstest.New(t)
			rn, err := ecsrunner.New(ecsrunner.Config{Client: fake.Client(), Cluster: "livestack",
				TaskDefinitions: map[string]string{"small": "def-small", "large": "def-large"}, Subnets: []string{"subnet-a"}})
			if err != nil {
				t.Fatal(err)
			}
			sched, err := scheduler.New(scheduler.Config{Store: st, Runner: rn, RecordSize: "small", TranscodeSize: "large", Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			// Started events first (EventBridge does not order; the scheduler copes either way).
			for _, pass := range []string{events.TypeStreamStarted, events.TypeStreamStopped} {
				for _, env := range envs {
					if env.DetailType == pass {
						if err := sched.HandleEnvelope(ctx, env); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			runs := fake.Calls("RunTask")
			if len(runs) != 1 {
				t.Fatalf("%d RunTask calls, want 1", len(runs))
			}
			if env := ecstest.Env(runs[0]); env["LIVESTACK_CHANNEL_ID"] != "cam-1" || env["LIVESTACK_GATEWAY"] != "10.9.8.7:8080" ||
				env["LIVESTACK_BROADCAST_ID"] != sess.SessionID {
				t.Errorf("overrides %v", env)
			}
			if n := len(fake.Calls("StopTask")); n < 1 {
				t.Errorf("no StopTask after the stream stopped")
			}
			rec, err := st.GetWorkerTask(ctx, "cam-1", sess.SessionID)
			if err != nil || rec.State != store.TaskStopped {
				t.Errorf("worker record %+v %v", rec, err)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSigV4TransportKeepsBody(t *testing.T) {
	var got []byte
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !requireSigV4(r) {
			w.WriteHeader(403)
			return
		}
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	tr := &sigv4Transport{creds: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""), region: "eu-west-1", service: "lambda"}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"action":"publish"}`))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || string(got) != `{"action":"publish"}` {
		t.Fatalf("status %d body %q", resp.StatusCode, got)
	}
}

func TestAuthorizerSelection(t *testing.T) {
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")}
	t.Setenv(ingestfn.EnvCallbackSecret, "a-callback-secret-of-enough-length")
	t.Setenv(EnvIngestAuthURL, "")
	ctx := context.Background()
	tests := []struct {
		name, url, fn string
		sigv4, invoke bool
		fail          bool
	}{
		{name: "function URL", url: "https://abc.lambda-url.eu-west-1.on.aws/", sigv4: true},
		{name: "plain endpoint", url: "https://auth.example.com/cb"},
		{name: "invoke", fn: "arn:aws:lambda:eu-west-1:1:function:x", invoke: true},
		{name: "nothing", fail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := newAuthorizer(ctx, cfg, tc.url, tc.fn, "eu-west-1")
			if tc.fail {
				if err == nil {
					t.Fatal("no error without an endpoint")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, isSig := a.Client.Transport.(*sigv4Transport)
			_, isInv := a.Client.Transport.(*invokeTransport)
			if isSig != tc.sigv4 || isInv != tc.invoke {
				t.Fatalf("transport %T", a.Client.Transport)
			}
		})
	}
	t.Setenv(ingestfn.EnvCallbackSecret, "short")
	if _, err := newAuthorizer(ctx, cfg, "https://x/", "", "eu-west-1"); err == nil {
		t.Fatal("short secret accepted")
	}
}

func TestAdvertiseFromECS(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"Cluster":"livestack","TaskARN":"arn:aws:ecs:eu-west-1:1:task/livestack/abc",
		  "Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.3.7"],"AttachmentIndex":0}]}`)
	}))
	defer srv.Close()
	t.Setenv("ECS_CONTAINER_METADATA_URI_V4", srv.URL)
	addr, err := advertiseFromECS(context.Background(), srv.Client(), "8080")
	if err != nil || addr != "10.0.3.7:8080" {
		t.Fatalf("%q %v", addr, err)
	}
	t.Setenv("ECS_CONTAINER_METADATA_URI_V4", "")
	if _, err := advertiseFromECS(context.Background(), srv.Client(), "8080"); err == nil {
		t.Fatal("no error off ECS")
	}
}
