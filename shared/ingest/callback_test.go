package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
)

var callbackSecret = []byte("callback-secret-for-tests-0123456789")

// authServer is the callback endpoint side: it verifies the signature of every
// request (a request that fails is answered 401 and counted) and answers with
// answer.
type authServer struct {
	srv    *httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, req CallbackRequest)

	mu      sync.Mutex
	bodies  []string
	actions []string
	badSigs atomic.Int32
	release chan struct{} // closed at cleanup, for slow answers
}

func newAuthServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, req CallbackRequest)) *authServer {
	t.Helper()
	s := &authServer{answer: answer, release: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.release)
		s.srv.Close()
		require.Zero(t, s.badSigs.Load(), "every request carried a valid signature")
	})
	return s
}

func (s *authServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := VerifySignature(callbackSecret, r.Header.Get(TimestampHeader), r.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		s.badSigs.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var req CallbackRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, string(body))
	s.actions = append(s.actions, req.Action)
	s.mu.Unlock()
	s.answer(w, r, req)
}

func (s *authServer) seen() (bodies, actions []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...), append([]string(nil), s.actions...)
}

func (s *authServer) callback() *Callback {
	return &Callback{URL: s.srv.URL + "/ingest", Secret: callbackSecret, Client: &http.Client{Timeout: 2 * time.Second}}
}

func answerJSON(status int, body string) func(http.ResponseWriter, *http.Request, CallbackRequest) {
	return func(w http.ResponseWriter, _ *http.Request, _ CallbackRequest) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

var leaseUntil = time.Date(2030, 1, 2, 3, 4, 35, 0, time.UTC)

func TestCallbackRequest(t *testing.T) {
	s := newAuthServer(t, answerJSON(200, `{"allow":true}`))
	cb := s.callback()
	req := pubReq("cam", "1900000000-abcd", "sess-1")
	ctx := context.Background()
	_, err := cb.AuthorizePublish(ctx, req)
	require.NoError(t, err)
	_, err = cb.Renew(ctx, req)
	require.NoError(t, err)
	req.Region = ""
	require.NoError(t, cb.Unpublish(ctx, req))

	bodies, actions := s.seen()
	require.Equal(t, []string{ActionPublish, ActionRenew, ActionUnpublish}, actions)
	const fields = `"channelId":"cam","sign":"1900000000-abcd","app":"stream","remoteAddr":"192.0.2.7:50000","gateway":"10.0.3.7:8080"`
	require.JSONEq(t, `{"action":"publish",`+fields+`,"region":"eu-west-1","sessionId":"sess-1"}`, bodies[0])
	require.JSONEq(t, `{"action":"renew",`+fields+`,"region":"eu-west-1","sessionId":"sess-1"}`, bodies[1])
	require.JSONEq(t, `{"action":"unpublish",`+fields+`,"sessionId":"sess-1"}`, bodies[2], "region is omitted when empty")
}

func TestCallbackHeaders(t *testing.T) {
	now := time.Unix(1700000000, 0)
	var got http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		body, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `{"allow":true}`)
	}))
	defer srv.Close()
	cb := &Callback{URL: srv.URL, Secret: callbackSecret, Now: func() time.Time { return now }}
	_, err := cb.AuthorizePublish(context.Background(), pubReq("cam", "", "s"))
	require.NoError(t, err)
	require.Equal(t, "1700000000", got.Get(TimestampHeader))
	require.Equal(t, Sign(callbackSecret, 1700000000, body), got.Get(SignatureHeader))
	require.Regexp(t, `^sha256=[0-9a-f]{64}$`, got.Get(SignatureHeader))
	require.Equal(t, "application/json", got.Get("Content-Type"))
	require.NoError(t, VerifySignature(callbackSecret, got.Get(TimestampHeader), got.Get(SignatureHeader), body, now.Add(time.Minute), 5*time.Minute))
}

func TestCallbackAllow(t *testing.T) {
	want := &channel.Channel{ID: "cam", Name: "Cam", Enabled: true}
	want.Normalize()
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   Grant
	}{
		{
			name:   "grant with channel and lease",
			status: 200,
			body:   `{"allow":true,"grant":{"channel":{"id":"cam","name":"Cam","enabled":true},"leaseUntil":"2030-01-02T03:04:35Z"}}`,
			want:   Grant{Channel: want, LeaseUntil: leaseUntil},
		},
		{
			name:   "top-level lease without grant",
			status: 200,
			body:   `{"allow":true,"leaseUntil":"2030-01-02T03:04:35Z"}`,
			want:   Grant{LeaseUntil: leaseUntil},
		},
		{
			name:   "bare allow",
			status: 200,
			body:   `{"allow":true}`,
			want:   Grant{},
		},
		{
			name:   "unknown fields are ignored",
			status: 200,
			body:   `{"allow":true,"grant":{"channel":{"id":"cam","name":"Cam","enabled":true,"future":1}},"extra":[1,2]}`,
			want:   Grant{Channel: want},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAuthServer(t, answerJSON(tc.status, tc.body))
			for _, ask := range []func(*Callback) (Grant, error){
				func(cb *Callback) (Grant, error) {
					return cb.AuthorizePublish(context.Background(), pubReq("cam", "x", "s"))
				},
				func(cb *Callback) (Grant, error) { return cb.Renew(context.Background(), pubReq("cam", "x", "s")) },
			} {
				g, err := ask(s.callback())
				require.NoError(t, err)
				require.Equal(t, tc.want, g)
			}
		})
	}
}

func TestCallbackDeny(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		reason string
	}{
		{"403 with reason", 403, `{"allow":false,"reason":"channel_disabled"}`, ReasonDisabled},
		{"200 with reason", 200, `{"allow":false,"reason":"unknown_channel"}`, ReasonUnknownChannel},
		{"server-defined reason", 403, `{"allow":false,"reason":"quota_exceeded"}`, "quota_exceeded"},
		{"deny without reason", 403, `{"allow":false}`, ReasonBadSignature},
		{"empty object", 200, `{}`, ReasonBadSignature},
		{"grant without allow", 200, `{"grant":{"channel":{"id":"cam"}}}`, ReasonBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAuthServer(t, answerJSON(tc.status, tc.body))
			cb := s.callback()
			g, err := cb.AuthorizePublish(context.Background(), pubReq("cam", "x", "s"))
			require.Equal(t, Grant{}, g)
			var r *Refusal
			require.ErrorAs(t, err, &r)
			require.Equal(t, &Refusal{Reason: tc.reason, Detail: "callback"}, r)

			// A denied renewal is a refusal too: the publish must stop.
			_, err = cb.Renew(context.Background(), pubReq("cam", "x", "s"))
			require.Equal(t, tc.reason, ReasonOf(err))

			// A denied unpublish is final: no retry.
			require.NoError(t, cb.Unpublish(context.Background(), pubReq("cam", "x", "s")))
			_, actions := s.seen()
			require.Equal(t, []string{ActionPublish, ActionRenew, ActionUnpublish}, actions)
		})
	}
}

func TestCallbackUnavailable(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for _, tc := range []struct {
		name     string
		answer   func(http.ResponseWriter, *http.Request, CallbackRequest) // nil: unreachable
		timeout  time.Duration
		ctxLimit time.Duration
		detail   string
	}{
		{name: "500", answer: answerJSON(500, `{"allow":true}`), detail: "status 500"},
		{name: "502 from a proxy", answer: answerJSON(502, `<html>bad gateway</html>`), detail: "status 502"},
		{name: "404", answer: answerJSON(404, `{"allow":true}`), detail: "status 404"},
		{name: "401", answer: answerJSON(401, `{"allow":false,"reason":"unsigned"}`), detail: "status 401"},
		{name: "garbage 200", answer: answerJSON(200, `allow`), detail: "decode answer"},
		{name: "empty 200", answer: answerJSON(200, ``), detail: "decode answer"},
		{name: "truncated JSON", answer: answerJSON(200, `{"allow":tr`), detail: "decode answer"},
		{name: "wrong types", answer: answerJSON(200, `{"allow":"yes"}`), detail: "decode answer"},
		{name: "garbage 403", answer: answerJSON(403, `forbidden`), detail: "decode answer"},
		{name: "slow: client timeout", timeout: 100 * time.Millisecond, answer: nil, detail: "Client.Timeout"},
		{name: "slow: context deadline", ctxLimit: 100 * time.Millisecond, answer: nil, detail: "context deadline exceeded"},
		{name: "unreachable", detail: "connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cb *Callback
			switch {
			case tc.timeout > 0 || tc.ctxLimit > 0:
				var s *authServer
				s = newAuthServer(t, func(w http.ResponseWriter, r *http.Request, _ CallbackRequest) {
					select {
					case <-s.release:
					case <-r.Context().Done():
					}
				})
				cb = s.callback()
				if tc.timeout > 0 {
					cb.Client = &http.Client{Timeout: tc.timeout}
				}
			case tc.answer != nil:
				cb = newAuthServer(t, tc.answer).callback()
			default:
				cb = &Callback{URL: closedURL, Secret: callbackSecret}
			}
			ask := func(f func(context.Context) error) error {
				ctx := context.Background()
				if tc.ctxLimit > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.ctxLimit)
					defer cancel()
				}
				start := time.Now()
				err := f(ctx)
				require.Less(t, time.Since(start), 2*time.Second, "the caller is not held longer than its limits")
				return err
			}
			req := pubReq("cam", "x", "s")

			// Publish fails closed: refused as authorizer_unavailable.
			err := ask(func(ctx context.Context) error { _, err := cb.AuthorizePublish(ctx, req); return err })
			var r *Refusal
			require.ErrorAs(t, err, &r)
			require.Equal(t, ReasonUnavailable, r.Reason)
			require.Contains(t, r.Detail, tc.detail)

			// Renew fails open: a plain error, so the live stream continues.
			err = ask(func(ctx context.Context) error { _, err := cb.Renew(ctx, req); return err })
			require.Error(t, err)
			require.False(t, errors.Is(err, ErrRefused), "%v", err)
			require.Empty(t, ReasonOf(err))
			require.Contains(t, err.Error(), "renew cam: ")
			require.Contains(t, err.Error(), tc.detail)
		})
	}
}

func TestCallbackUnpublishRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int // answers in order; the last repeats
		wantErr  string
		requests int
	}{
		{"first try", []int{200}, "", 1},
		{"after one failure", []int{500, 200}, "", 2},
		{"after two failures", []int{503, 500, 200}, "", 3},
		{"gives up after three", []int{500}, "unpublish cam: status 500", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			s := newAuthServer(t, func(w http.ResponseWriter, r *http.Request, req CallbackRequest) {
				i := int(n.Add(1)) - 1
				status := tc.statuses[min(i, len(tc.statuses)-1)]
				answerJSON(status, `{"allow":true}`)(w, r, req)
			})
			err := s.callback().Unpublish(context.Background(), pubReq("cam", "", "s"))
			if tc.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.EqualError(t, err, tc.wantErr)
				require.False(t, errors.Is(err, ErrRefused))
			}
			_, actions := s.seen()
			require.Len(t, actions, tc.requests)
			for _, a := range actions {
				require.Equal(t, ActionUnpublish, a)
			}
		})
	}
}

func TestCallbackUnpublishStopsWithContext(t *testing.T) {
	var n atomic.Int32
	s := newAuthServer(t, func(w http.ResponseWriter, r *http.Request, req CallbackRequest) {
		n.Add(1)
		answerJSON(500, ``)(w, r, req)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.callback().Unpublish(ctx, pubReq("cam", "", "s"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.EqualError(t, err, "unpublish cam: context deadline exceeded")
	require.Equal(t, int32(1), n.Load(), "no retry after the context ended")
}

type verifyCase struct {
	name    string
	secret  []byte
	ts      string
	sig     string
	body    []byte
	wantErr string
}

// verifyCases are VerifySignature's unit cases, at verifyNow with a 5-minute skew;
// they seed FuzzVerifySignature.
var (
	verifyNow   = time.Unix(1700000000, 0)
	verifyBody  = []byte(`{"action":"publish","channelId":"cam","sign":"","app":"stream","remoteAddr":"192.0.2.7:50000","gateway":"10.0.3.7:8080","sessionId":"s"}`)
	verifyCases = []verifyCase{
		{name: "valid", secret: callbackSecret, ts: "1700000000", sig: Sign(callbackSecret, 1700000000, verifyBody), body: verifyBody},
		{name: "valid at the edge of the skew", secret: callbackSecret, ts: "1699999700", sig: Sign(callbackSecret, 1699999700, verifyBody), body: verifyBody},
		{name: "valid slightly in the future", secret: callbackSecret, ts: "1700000300", sig: Sign(callbackSecret, 1700000300, verifyBody), body: verifyBody},
		{name: "valid empty body", secret: callbackSecret, ts: "1700000000", sig: Sign(callbackSecret, 1700000000, nil), body: nil},
		{name: "wrong secret", secret: []byte("another-secret"), ts: "1700000000", sig: Sign(callbackSecret, 1700000000, verifyBody), body: verifyBody, wantErr: "callback signature mismatch"},
		{name: "empty secret", secret: nil, ts: "1700000000", sig: Sign(callbackSecret, 1700000000, verifyBody), body: verifyBody, wantErr: "callback signature mismatch"},
		{name: "tampered body", secret: callbackSecret, ts: "1700000000", sig: Sign(callbackSecret, 1700000000, verifyBody), body: []byte(strings.Replace(string(verifyBody), "cam", "cat", 1)), wantErr: "callback signature mismatch"},
		{name: "body with a trailing newline", secret: callbackSecret, ts: "1700000000", sig: Sign(callbackSecret, 1700000000, verifyBody), body: append(append([]byte(nil), verifyBody...), '\n'), wantErr: "callback signature mismatch"},
		{name: "replayed with a new timestamp", secret: callbackSecret, ts: "1700000001", sig: Sign(callbackSecret, 1700000000, verifyBody), body: verifyBody, wantErr: "callback signature mismatch"},
		// The signature covers the canonical decimal of the parsed timestamp.
		{name: "timestamp with a plus sign", secret: callbackSecret, ts: "+1700000000", sig: Sign(callbackSecret, 1700000000, verifyBody), body: verifyBody},
		{name: "timestamp with leading zeros", secret: callbackSecret, ts: "01700000000", sig: Sign(callbackSecret, 1700000000, verifyBody), body: verifyBody},
		{name: "upper-case hex", secret: callbackSecret, ts: "1700000000", sig: "sha256=" + strings.ToUpper(strings.TrimPrefix(Sign(callbackSecret, 1700000000, verifyBody), "sha256=")), body: verifyBody, wantErr: "callback signature mismatch"},
		{name: "no scheme prefix", secret: callbackSecret, ts: "1700000000", sig: strings.TrimPrefix(Sign(callbackSecret, 1700000000, verifyBody), "sha256="), body: verifyBody, wantErr: "callback signature mismatch"},
		{name: "empty signature", secret: callbackSecret, ts: "1700000000", sig: "", body: verifyBody, wantErr: "callback signature mismatch"},
		{name: "stale timestamp", secret: callbackSecret, ts: "1699999699", sig: Sign(callbackSecret, 1699999699, verifyBody), body: verifyBody, wantErr: "callback timestamp 1699999699 outside 5m0s of now"},
		{name: "timestamp from the future", secret: callbackSecret, ts: "1700000301", sig: Sign(callbackSecret, 1700000301, verifyBody), body: verifyBody, wantErr: "callback timestamp 1700000301 outside 5m0s of now"},
		{name: "timestamp zero", secret: callbackSecret, ts: "0", sig: Sign(callbackSecret, 0, verifyBody), body: verifyBody, wantErr: "callback timestamp 0 outside 5m0s of now"},
		{name: "largest timestamp", secret: callbackSecret, ts: "9223372036854775807", sig: Sign(callbackSecret, 9223372036854775807, verifyBody), body: verifyBody, wantErr: "callback timestamp 9223372036854775807 outside 5m0s of now"},
		{name: "smallest timestamp", secret: callbackSecret, ts: "-9223372036854775808", sig: Sign(callbackSecret, -9223372036854775808, verifyBody), body: verifyBody, wantErr: "callback timestamp -9223372036854775808 outside 5m0s of now"},
		{name: "milliseconds", secret: callbackSecret, ts: "1700000000000", sig: Sign(callbackSecret, 1700000000000, verifyBody), body: verifyBody, wantErr: "callback timestamp 1700000000000 outside 5m0s of now"},
		{name: "missing timestamp", secret: callbackSecret, ts: "", sig: Sign(callbackSecret, 1700000000, verifyBody), body: verifyBody, wantErr: `callback timestamp: strconv.ParseInt: parsing "": invalid syntax`},
		{name: "timestamp not a number", secret: callbackSecret, ts: "now", sig: Sign(callbackSecret, 1700000000, verifyBody), body: verifyBody, wantErr: `callback timestamp: strconv.ParseInt: parsing "now": invalid syntax`},
		{name: "timestamp out of range", secret: callbackSecret, ts: "99999999999999999999", sig: "", body: verifyBody, wantErr: `callback timestamp: strconv.ParseInt: parsing "99999999999999999999": value out of range`},
	}
)

func TestVerifySignature(t *testing.T) {
	for _, tc := range verifyCases {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.secret, tc.ts, tc.sig, tc.body, verifyNow, 5*time.Minute)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.wantErr)
		})
	}
}

func TestSign(t *testing.T) {
	// Golden value: printf '1700000000.{}' | openssl dgst -sha256 -hmac 'secret'
	require.Equal(t, "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163", Sign([]byte("secret"), 1700000000, []byte("{}")))
}

func TestCallbackStaleClockIsRejected(t *testing.T) {
	var reached atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := VerifySignature(callbackSecret, r.Header.Get(TimestampHeader), r.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, `{"allow":false,"reason":"bad_signature"}`, http.StatusUnauthorized)
			return
		}
		reached.Add(1)
		_, _ = io.WriteString(w, `{"allow":true}`)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name   string
		cb     *Callback
		reason string
	}{
		{"gateway clock an hour behind", &Callback{URL: srv.URL, Secret: callbackSecret, Now: func() time.Time { return time.Now().Add(-time.Hour) }}, ReasonUnavailable},
		{"wrong secret", &Callback{URL: srv.URL, Secret: []byte("not-the-secret")}, ReasonUnavailable},
		{"no secret", &Callback{URL: srv.URL}, ReasonUnavailable},
		{"right secret and clock", &Callback{URL: srv.URL, Secret: callbackSecret}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cb.AuthorizePublish(context.Background(), pubReq("cam", "x", "s"))
			require.Equal(t, tc.reason, ReasonOf(err))
		})
	}
	require.Equal(t, int32(1), reached.Load())
}

func TestCallbackBadURL(t *testing.T) {
	for _, url := range []string{"", "::not a url", "ftp://example.com/x"} {
		cb := &Callback{URL: url, Secret: callbackSecret}
		_, err := cb.AuthorizePublish(context.Background(), pubReq("cam", "x", "s"))
		require.Error(t, err, url)
		_, err = cb.Renew(context.Background(), pubReq("cam", "x", "s"))
		require.Error(t, err, url)
		require.False(t, errors.Is(err, ErrRefused))
	}
}
