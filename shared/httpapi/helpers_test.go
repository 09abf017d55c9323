package httpapi

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/blob/fsblob"
	"github.com/livestack/livestack/shared/playauth"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
)

const testToken = "test-admin-token-0123456789"

// testNow is the API's clock in every test.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func testKey() []byte { return bytes.Repeat([]byte{0x5a}, signing.MinKeySize) }

var (
	playKeyOnce sync.Once
	playKey     *rsa.PrivateKey
)

// testPlaySigner signs play URLs with one RSA key per test binary.
func testPlaySigner(t testing.TB) *playauth.Signer {
	t.Helper()
	playKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		playKey = k
	})
	s, err := playauth.NewSigner("KTESTKEYPAIR", playKey)
	require.NoError(t, err)
	return s
}

// fakeStreams is a StreamSource built from funcs.
type fakeStreams struct {
	StreamsImpl func() []StreamInfo
	KickImpl    func(key, reason string)
}

func (f *fakeStreams) Streams() []StreamInfo {
	if f.StreamsImpl == nil {
		return nil
	}
	return f.StreamsImpl()
}

func (f *fakeStreams) Kick(key, reason string) {
	if f.KickImpl != nil {
		f.KickImpl(key, reason)
	}
}

// testEnv is an API over a real bbolt store and signer.
type testEnv struct {
	handler http.Handler
	srv     *httptest.Server
	store   store.Store
	signer  *signing.Signer
}

// newEnv builds the API; mod may change the config (after Store and Signer are set).
func newEnv(t testing.TB, mod func(*Config)) *testEnv {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "livestack.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	signer, err := signing.New(testKey())
	require.NoError(t, err)
	cfg := Config{
		Store:      st,
		Signer:     signer,
		PlaySigner: testPlaySigner(t),
		AdminToken: testToken,
		URLs:       URLs{PushBase: "rtmp://live.example:1935", PlayBase: "https://play.example"},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:        func() time.Time { return testNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testEnv{handler: h, srv: srv, store: cfg.Store, signer: signer}
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request with the admin token over a real connection. path is
// sent as written (escapes included).
func (e *testEnv) do(t testing.TB, method, path, body string) response {
	t.Helper()
	return e.doAuth(t, method, path, body, "Bearer "+testToken)
}

func (e *testEnv) doAuth(t testing.TB, method, path, body, authorization string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// serve runs one request in process (no connection), for fuzzing.
func (e *testEnv) serve(method, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	return w
}

// errJSON is the error body the API answers with.
func errJSON(code, message string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	return string(b)
}

// channelJSON is the stored form of a channel created from only an id and a
// name at testNow: every default applied.
func channelJSON(id, name string) string {
	return `{
		"id": "` + id + `", "name": "` + name + `", "description": "", "enabled": true,
		"outputs": {"cmaf": false, "hlsSegmentSeconds": 2, "hlsListSize": 6},
		"recording": {"mp4": false, "mp4SegmentSeconds": 60, "hlsVod": false, "snapshots": false, "snapshotSeconds": 10,
			"motion": {"enabled": false, "durationMillis": 5000, "percent": 30, "timeoutSeconds": 60, "diff": 10}},
		"transcode": {"enabled": false, "codec": "libx264", "renditions": []},
		"watermark": {}, "relay": [], "playAuth": false, "delivery": {},
		"createdAt": "2030-01-02T03:04:05Z", "updatedAt": "2030-01-02T03:04:05Z"
	}`
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

type pushURL struct{ channel, sign string }

// parsePushURL splits rtmp://HOST/stream/{channel}?sign=... as an encoder's
// RTMP library would: app "stream", stream name with its query.
func parsePushURL(raw string) (pushURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return pushURL{}, err
	}
	if u.Scheme != "rtmp" {
		return pushURL{}, fmt.Errorf("scheme %q", u.Scheme)
	}
	app, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || app != "stream" {
		return pushURL{}, fmt.Errorf("path %q", u.Path)
	}
	return pushURL{channel: name, sign: u.Query().Get("sign")}, nil
}

// newTestBlobs is a filesystem blob store in a temporary directory.
func newTestBlobs(t testing.TB) *fsblob.Store {
	t.Helper()
	bs, err := fsblob.New(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = bs.Close() })
	return bs
}
