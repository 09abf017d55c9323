package ingestfn

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/events"
	"github.com/livestack/livestack/shared/events/eventbridgetest"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/scheduler/dynalitetest"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store/dynamostore"
)

var emu dynalitetest.Emulator

func TestMain(m *testing.M) {
	code := m.Run()
	emu.Stop()
	os.Exit(code)
}

// pushKey is what the Secrets Manager secret holds: 64 letters and digits.
const pushKey = "k9F2mQ7xR4tV8wZ1nB6cD3eG5hJ0pL2sU7yA9qW4rT6vX8zC1bN3mK5jH7gF0dS2"

const secretARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:livestack/push-key-AbCdEf"

// fakeSecrets answers GetSecretValue for secretARN.
func fakeSecrets(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SecretId string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || in.SecretId != secretARN {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","Message":"no such secret"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": secretARN, "Name": "livestack/push-key",
			"SecretString": pushKey, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type fixture struct {
	h      *Handler
	st     *dynamostore.Store
	eb     *eventbridgetest.Server
	signer *signing.Signer
	secret []byte
}

// newFixture wires the handler exactly as the Lambda does (FromEnv), with
// DynamoDB on dynalite and EventBridge and Secrets Manager on recording
// endpoints.
func newFixture(t *testing.T) *fixture {
	endpoint, table := emu.Table(t)
	eb := eventbridgetest.New(t)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", eb.URL)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", fakeSecrets(t))
	t.Setenv(dynamostore.EnvTable, table)
	t.Setenv(dynamostore.EnvEndpoint, endpoint)
	t.Setenv(EnvEventBus, "livestack")
	t.Setenv(EnvPushKeySecret, secretARN)
	t.Setenv(EnvPushKey, "")
	t.Setenv(EnvCallbackSecret, "")
	h, err := FromEnv(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := dynamostore.FromEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.New([]byte(pushKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*channel.Channel{
		{ID: "cam-1", Name: "Lobby", Enabled: true},
		{ID: "off", Name: "Off", Enabled: false},
	} {
		c.Normalize()
		if err := st.CreateChannel(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{h: h, st: st, eb: eb, signer: signer, secret: CallbackSecret([]byte(pushKey))}
}

// event fills a testdata event with a signed callback body.
func (f *fixture) event(t *testing.T, file string, cb ingest.CallbackRequest, ts time.Time, mutate func(body []byte, headers map[string]any)) json.RawMessage {
	raw, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(cb)
	headers := ev["headers"].(map[string]any)
	for k := range headers {
		switch strings.ToLower(k) {
		case "x-livestack-timestamp":
			headers[k] = strconv.FormatInt(ts.Unix(), 10)
		case "x-livestack-signature":
			headers[k] = ingest.Sign(f.secret, ts.Unix(), body)
		case "content-length":
			headers[k] = strconv.Itoa(len(body))
		}
	}
	ev["body"] = string(body)
	if mutate != nil {
		mutate(body, headers)
		if b, ok := headers["__body"]; ok {
			ev["body"] = b
			delete(headers, "__body")
		}
		if b, ok := headers["__base64"]; ok {
			ev["body"], ev["isBase64Encoded"] = b, true
			delete(headers, "__base64")
		}
	}
	out, _ := json.Marshal(ev)
	return out
}

func publishReq(f *fixture, ch, session string) ingest.CallbackRequest {
	return ingest.CallbackRequest{Action: ingest.ActionPublish, PublishRequest: ingest.PublishRequest{
		ChannelID: ch, Sign: f.signer.Sign(ch, time.Now().Add(time.Hour)), App: "stream",
		RemoteAddr: "203.0.113.7:51234", Gateway: "10.0.3.7:8080", Region: "eu-west-1", SessionID: session,
	}}
}

func decode(t *testing.T, r Response) ingest.CallbackResponse {
	t.Helper()
	var cr ingest.CallbackResponse
	if err := json.Unmarshal([]byte(r.Body), &cr); err != nil {
		t.Fatalf("status %d body %q: %v", r.StatusCode, r.Body, err)
	}
	return cr
}

func TestPublishRenewUnpublish(t *testing.T) {
	for _, file := range []string{"function-url-publish.json", "apigateway-proxy-publish.json"} {
		t.Run(file, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			resp, err := f.h.Invoke(ctx, f.event(t, file, publishReq(f, "cam-1", "sess-1"), time.Now(), nil))
			if err != nil {
				t.Fatal(err)
			}
			cr := decode(t, resp)
			if resp.StatusCode != 200 || !cr.Allow || cr.Grant == nil || cr.Grant.Channel.ID != "cam-1" || cr.Grant.LeaseUntil.IsZero() {
				t.Fatalf("publish: %d %+v", resp.StatusCode, cr)
			}
			sess, err := f.st.GetSession(ctx, "cam-1")
			if err != nil || sess.SessionID != "sess-1" || sess.Gateway != "10.0.3.7:8080" || sess.Region != "eu-west-1" {
				t.Fatalf("session %+v %v", sess, err)
			}
			// A second publisher of the channel (another gateway) is refused.
			other := publishReq(f, "cam-1", "sess-2")
			other.Gateway = "10.0.9.9:8080"
			resp, _ = f.h.Invoke(ctx, f.event(t, file, other, time.Now(), nil))
			if cr := decode(t, resp); resp.StatusCode != 403 || cr.Allow || cr.Reason != ingest.ReasonAlreadyLive {
				t.Fatalf("second publisher: %d %+v", resp.StatusCode, cr)
			}
			renew := publishReq(f, "cam-1", "sess-1")
			renew.Action, renew.Sign = ingest.ActionRenew, ""
			resp, _ = f.h.Invoke(ctx, f.event(t, file, renew, time.Now(), nil))
			if cr := decode(t, resp); resp.StatusCode != 200 || !cr.Allow {
				t.Fatalf("renew: %d %+v", resp.StatusCode, cr)
			}
			unpub := publishReq(f, "cam-1", "sess-1")
			unpub.Action = ingest.ActionUnpublish
			resp, _ = f.h.Invoke(ctx, f.event(t, file, unpub, time.Now(), nil))
			if resp.StatusCode != 200 {
				t.Fatalf("unpublish: %d %s", resp.StatusCode, resp.Body)
			}
			if _, err := f.st.GetSession(ctx, "cam-1"); err == nil {
				t.Fatal("session still held after unpublish")
			}

			entries := f.eb.Entries()
			if len(entries) != 2 {
				t.Fatalf("%d events, want Started and Stopped: %+v", len(entries), entries)
			}
			for i, want := range []string{events.TypeStreamStarted, events.TypeStreamStopped} {
				e := entries[i]
				if e.DetailType != want || e.Source != events.SourceIngestAuth || e.EventBusName != "livestack" {
					t.Errorf("entry %d: %+v", i, e)
				}
				var d events.StreamDetail
				if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
					t.Fatal(err)
				}
				if d.ChannelID != "cam-1" || d.SessionID != "sess-1" || d.BroadcastID != "sess-1" ||
					d.Gateway != "10.0.3.7:8080" || d.Region != "eu-west-1" || d.StartedAt.IsZero() {
					t.Errorf("detail %d: %+v", i, d)
				}
				if (want == events.TypeStreamStopped) != (d.StoppedAt != nil) {
					t.Errorf("detail %d stoppedAt %v", i, d.StoppedAt)
				}
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	file := "function-url-publish.json"
	tests := []struct {
		name   string
		req    ingest.CallbackRequest
		ts     time.Time
		mutate func([]byte, map[string]any)
		status int
		reason string
	}{
		{name: "unsigned push", req: func() ingest.CallbackRequest { r := publishReq(f, "cam-1", "s"); r.Sign = ""; return r }(),
			status: 403, reason: ingest.ReasonUnsigned},
		{name: "push signed for another channel", req: func() ingest.CallbackRequest {
			r := publishReq(f, "cam-1", "s")
			r.Sign = f.signer.Sign("other", time.Now().Add(time.Hour))
			return r
		}(), status: 403, reason: ingest.ReasonBadSignature},
		{name: "unknown channel", req: publishReq(f, "nope", "s"), status: 403, reason: ingest.ReasonUnknownChannel},
		{name: "disabled channel", req: publishReq(f, "off", "s"), status: 403, reason: ingest.ReasonDisabled},
		{name: "callback signed with another secret", req: publishReq(f, "cam-1", "s"),
			mutate: func(b []byte, h map[string]any) {
				h["x-livestack-signature"] = ingest.Sign([]byte("not-the-callback-secret"), time.Now().Unix(), b)
			}, status: 401, reason: ingest.ReasonBadSignature},
		{name: "replayed callback (old timestamp)", req: publishReq(f, "cam-1", "s"), ts: time.Now().Add(-10 * time.Minute),
			status: 401, reason: ingest.ReasonBadSignature},
		{name: "body changed after signing", req: publishReq(f, "cam-1", "s"),
			mutate: func(b []byte, h map[string]any) { h["__body"] = strings.Replace(string(b), "cam-1", "off", 1) },
			status: 401, reason: ingest.ReasonBadSignature},
		{name: "no signature headers", req: publishReq(f, "cam-1", "s"),
			mutate: func(b []byte, h map[string]any) {
				delete(h, "x-livestack-signature")
				delete(h, "x-livestack-timestamp")
			}, status: 401, reason: ingest.ReasonBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := tc.ts
			if ts.IsZero() {
				ts = time.Now()
			}
			resp, err := f.h.Invoke(ctx, f.event(t, file, tc.req, ts, tc.mutate))
			if err != nil {
				t.Fatal(err)
			}
			cr := decode(t, resp)
			if resp.StatusCode != tc.status || cr.Allow || cr.Reason != tc.reason {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, cr, tc.status, tc.reason)
			}
		})
	}
	if n := len(f.eb.Entries()); n != 0 {
		t.Fatalf("%d events for refused publishes", n)
	}
	if _, err := f.st.GetSession(ctx, "cam-1"); err == nil {
		t.Fatal("a refused publish holds a session")
	}
}

func TestRequestShapes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A base64 body (function URLs encode non-text content types).
	resp, _ := f.h.Invoke(ctx, f.event(t, "function-url-publish.json", publishReq(f, "cam-1", "b64"), time.Now(),
		func(b []byte, h map[string]any) { h["__base64"] = base64.StdEncoding.EncodeToString(b) }))
	if cr := decode(t, resp); resp.StatusCode != 200 || !cr.Allow {
		t.Fatalf("base64 body: %d %+v", resp.StatusCode, cr)
	}
	get := json.RawMessage(`{"version":"2.0","rawPath":"/","headers":{},"requestContext":{"http":{"method":"GET"}},"body":""}`)
	if resp, _ := f.h.Invoke(ctx, get); resp.StatusCode != 405 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	if _, err := f.h.Invoke(ctx, json.RawMessage(`[1,2]`)); err == nil {
		t.Fatal("a non-object event was accepted")
	}
	big := ingest.CallbackRequest{Action: ingest.ActionPublish, PublishRequest: ingest.PublishRequest{ChannelID: strings.Repeat("a", MaxBody)}}
	if resp, _ := f.h.Invoke(ctx, f.event(t, "function-url-publish.json", big, time.Now(), nil)); resp.StatusCode != 413 {
		t.Fatalf("oversize: %d", resp.StatusCode)
	}
	bad := ingest.CallbackRequest{Action: "explode", PublishRequest: publishReq(f, "cam-1", "x").PublishRequest}
	if resp, _ := f.h.Invoke(ctx, f.event(t, "function-url-publish.json", bad, time.Now(), nil)); resp.StatusCode != 400 {
		t.Fatalf("unknown action: %d", resp.StatusCode)
	}
}

// A worker's rendition publish ({channelId}/{rendition}) takes no session and
// must not announce a stream (no second worker for the worker's own output).
func TestRenditionPublishEmitsNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// The source is live first (one Stream Started).
	if resp, _ := f.h.Invoke(ctx, f.event(t, "function-url-publish.json", publishReq(f, "cam-1", "src"), time.Now(), nil)); resp.StatusCode != 200 {
		t.Fatalf("source publish: %d %s", resp.StatusCode, resp.Body)
	}
	req := publishReq(f, "cam-1/360p", "w-1")
	req.Sign = f.signer.Sign("cam-1/360p", time.Now().Add(time.Hour))
	resp, _ := f.h.Invoke(ctx, f.event(t, "function-url-publish.json", req, time.Now(), nil))
	if cr := decode(t, resp); resp.StatusCode != 200 || !cr.Allow {
		t.Fatalf("rendition publish: %d %+v", resp.StatusCode, cr)
	}
	req.Action = ingest.ActionUnpublish
	_, _ = f.h.Invoke(ctx, f.event(t, "function-url-publish.json", req, time.Now(), nil))
	if n := len(f.eb.Entries()); n != 1 {
		t.Fatalf("%d events, want only the source's Stream Started", n)
	}
}

// The gateway's client (ingest.Callback) and this handler agree on the
// contract: an HTTP server that turns requests into function URL events, as
// Lambda does, carries a real callback round trip.
func TestGatewayClientRoundTrip(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := Request{Version: "2.0", RawPath: r.URL.Path, Headers: map[string]string{}, Body: string(body)}
		req.RequestContext.HTTP.Method = r.Method
		for k := range r.Header {
			req.Headers[strings.ToLower(k)] = r.Header.Get(k)
		}
		resp := f.h.Serve(r.Context(), req)
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body)
	}))
	defer srv.Close()
	client := &ingest.Callback{URL: srv.URL, Secret: CallbackSecret([]byte(pushKey))}
	ctx := context.Background()
	pr := publishReq(f, "cam-1", "rt-1").PublishRequest
	g, err := client.AuthorizePublish(ctx, pr)
	if err != nil || g.Channel == nil || g.Channel.ID != "cam-1" {
		t.Fatalf("publish through the client: %+v %v", g, err)
	}
	pr2 := publishReq(f, "cam-1", "rt-2").PublishRequest
	if _, err := client.AuthorizePublish(ctx, pr2); ingest.ReasonOf(err) != ingest.ReasonAlreadyLive {
		t.Fatalf("second publisher: %v", err)
	}
	if err := client.Unpublish(ctx, pr); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.GetSession(ctx, "cam-1"); err == nil {
		t.Fatal("session kept")
	}
	wrong := &ingest.Callback{URL: srv.URL, Secret: []byte("0123456789abcdef-wrong")}
	if _, err := wrong.AuthorizePublish(ctx, pr); ingest.ReasonOf(err) != ingest.ReasonUnavailable {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestCallbackSecretAndPushKey(t *testing.T) {
	t.Setenv(EnvCallbackSecret, "")
	a, b := CallbackSecret([]byte(pushKey)), CallbackSecret([]byte(pushKey+"x"))
	if len(a) != 64 || string(a) == string(b) || strings.Contains(string(a), pushKey) {
		t.Fatalf("derived secrets %q %q", a, b)
	}
	// The golden value docs/ingest-callback.md gives (openssl dgst -sha256 -hmac).
	if want := "7817e28ec5dcda5e0b7a64ef38e076d336fbd347f1d04aea3ca8628984909c88"; string(a) != want {
		t.Fatalf("derived secret %s, want %s", a, want)
	}
	t.Setenv(EnvCallbackSecret, " explicit-secret-value ")
	if got := CallbackSecret([]byte(pushKey)); string(got) != "explicit-secret-value" {
		t.Fatalf("override: %q", got)
	}
	t.Setenv(EnvPushKey, hex.EncodeToString([]byte(pushKey)))
	k, err := LoadPushKey(context.Background(), nil)
	if err != nil || string(k) != pushKey {
		t.Fatalf("hex key: %q %v", k, err)
	}
	t.Setenv(EnvPushKey, "zz")
	if _, err := LoadPushKey(context.Background(), nil); err == nil {
		t.Fatal("bad hex accepted")
	}
	t.Setenv(EnvPushKey, "")
	t.Setenv(EnvPushKeySecret, "")
	if _, err := LoadPushKey(context.Background(), nil); err == nil {
		t.Fatal("no key configured, no error")
	}
}

func FuzzServe(f *testing.F) {
	h := &Handler{Auth: &ingest.Local{}, Secret: []byte("fuzz-secret-0123456789"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.Add([]byte(`{"version":"2.0","headers":{"x-livestack-timestamp":"1"},"requestContext":{"http":{"method":"POST"}},"body":"{}"}`))
	f.Add([]byte(`{"httpMethod":"POST","isBase64Encoded":true,"body":"!!"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp, err := h.Invoke(context.Background(), raw)
		if err == nil && (resp.StatusCode == 200) {
			t.Fatalf("unsigned fuzz input allowed: %s", raw)
		}
	})
}
