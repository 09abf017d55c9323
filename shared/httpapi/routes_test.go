package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/store"
)

// seedRoutes stores what the route table needs: channel "cam", recording
// "rec-1" (complete, with no objects) and API key "key-probe".
func seedRoutes(t *testing.T, e *testEnv) {
	t.Helper()
	ctx := context.Background()
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"cam","name":"Cam"}`).status)
	end := testNow.Add(time.Minute)
	require.NoError(t, e.store.PutRecording(ctx, &store.Recording{
		ID: "rec-1", ChannelID: "cam", Kind: store.KindMP4, Status: store.StatusComplete,
		StartedAt: testNow, EndedAt: &end, Prefix: "rec/cam/rec-1/", Keys: []string{"rec/cam/rec-1/000001.mp4"}, UpdatedAt: testNow,
	}))
	require.NoError(t, e.store.CreateAPIKey(ctx, store.APIKey{ID: "key-probe", Hash: strings.Repeat("ab", 32), Prefix: "lsk_x", CreatedAt: testNow}))
}

// routeCase exercises one route four ways. An empty field skips that check
// (a route without a body has no validation error of its body, one without an
// id no not-found).
type routeCase struct {
	method, path string
	// body and status of a successful call
	body   string
	status int
	// a request (path, body) the route refuses with 400 invalid_field/bad_json
	badPath, badBody string
	// a path that names nothing: 404 not_found
	missing string
}

var routeCases = []routeCase{
	{method: "GET", path: "/api/v1/openapi.json", status: 200},
	{method: "POST", path: "/api/v1/channels", body: `{"id":"new-1"}`, status: 201, badPath: "/api/v1/channels", badBody: `{"outputs":{"hlsListSize":99}}`},
	{method: "GET", path: "/api/v1/channels", status: 200, badPath: "/api/v1/channels?limit=0"},
	{method: "GET", path: "/api/v1/channels/cam", status: 200, badPath: "/api/v1/channels/a.b", missing: "/api/v1/channels/nope"},
	{method: "PUT", path: "/api/v1/channels/cam", body: `{"name":"Cam 2"}`, status: 200, badPath: "/api/v1/channels/cam", badBody: `{"transcode":{"codec":"vp9"}}`, missing: "/api/v1/channels/nope"},
	{method: "PATCH", path: "/api/v1/channels/cam", body: `{"description":"d"}`, status: 200, badPath: "/api/v1/channels/cam", badBody: `{"relay":[{"url":"http://x/y"}]}`, missing: "/api/v1/channels/nope"},
	{method: "GET", path: "/api/v1/channels/cam/urls", status: 200, badPath: "/api/v1/channels/cam/urls?qr=gopher", missing: "/api/v1/channels/nope/urls"},
	{method: "POST", path: "/api/v1/channels/cam/rotate-key", status: 200, badPath: "/api/v1/channels/a.b/rotate-key", missing: "/api/v1/channels/nope/rotate-key"},
	{method: "GET", path: "/api/v1/streams", status: 200},
	{method: "GET", path: "/api/v1/recordings", status: 200, badPath: "/api/v1/recordings?since=yesterday"},
	{method: "GET", path: "/api/v1/recordings/rec-1", status: 200, badPath: "/api/v1/recordings/a.b", missing: "/api/v1/recordings/nope"},
	{method: "DELETE", path: "/api/v1/recordings/rec-1", status: 204, badPath: "/api/v1/recordings/a.b", missing: "/api/v1/recordings/nope"},
	{method: "GET", path: "/api/v1/domains", status: 200},
	{method: "PUT", path: "/api/v1/domains", body: `{"push":"rtmp://live.example.com","play":"https://play.example.com"}`, status: 200, badPath: "/api/v1/domains", badBody: `{"push":"http://live.example.com"}`},
	{method: "GET", path: "/api/v1/templates", status: 200},
	{method: "GET", path: "/api/v1/templates/720p", status: 200, missing: "/api/v1/templates/4k"},
	{method: "PUT", path: "/api/v1/templates/720p", body: `{"name":"HD","width":1280,"height":720,"videoKbps":1200,"audioKbps":128}`, status: 200, badPath: "/api/v1/templates/720p", badBody: `{"name":"HD","width":1281,"height":720,"videoKbps":1200,"audioKbps":128}`, missing: "/api/v1/templates/4k"},
	{method: "GET", path: "/api/v1/keys", status: 200},
	{method: "POST", path: "/api/v1/keys", body: `{"name":"ci"}`, status: 201, badPath: "/api/v1/keys", badBody: `{"name":"ci","expiresAt":"2000-01-01T00:00:00Z"}`},
	{method: "DELETE", path: "/api/v1/keys/key-probe", status: 204, badPath: "/api/v1/keys/a.b", missing: "/api/v1/keys/nope"},
	{method: "DELETE", path: "/api/v1/channels/cam", status: 204, badPath: "/api/v1/channels/a.b", missing: "/api/v1/channels/nope"},
	{method: "GET", path: "/videostream", status: 200},
	{method: "POST", path: "/videostream", body: `{"isFlv":true,"hls_time":"4"}`, status: 201, badPath: "/videostream", badBody: `{"isFlv":"maybe"}`},
	{method: "GET", path: "/videostream/cam", status: 200, badPath: "/videostream/a.b", missing: "/videostream/nope"},
	{method: "PUT", path: "/videostream/cam", body: `{"isHls":"true"}`, status: 200, badPath: "/videostream/cam", badBody: `{"hls_time":"abc"}`, missing: "/videostream/nope"},
	{method: "DELETE", path: "/videostream/cam", status: 204, badPath: "/videostream/a.b", missing: "/videostream/nope"},
}

// TestEveryRoute: every route answers success, a validation error naming
// the field, 401 without credentials and 404 for what does not exist.
func TestEveryRoute(t *testing.T) {
	for _, tc := range routeCases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Blobs = newTestBlobs(t) })
			seedRoutes(t, e)
			before := storeSnapshot(t, e)
			r := e.doAuth(t, tc.method, tc.path, tc.body, "")
			require.Equal(t, http.StatusUnauthorized, r.status, r.body)
			require.JSONEq(t, errJSON("unauthorized", "a valid bearer token is required"), r.body)
			r = e.doAuth(t, tc.method, tc.path, tc.body, "Bearer wrong-token-0123456789")
			require.Equal(t, http.StatusUnauthorized, r.status, r.body)
			require.Equal(t, before, storeSnapshot(t, e), "a refused request changed nothing")

			if tc.badPath != "" {
				r = e.do(t, tc.method, tc.badPath, tc.badBody)
				require.Equal(t, http.StatusBadRequest, r.status, r.body)
				var eb errorBody
				require.NoError(t, json.Unmarshal([]byte(r.body), &eb))
				require.Contains(t, []string{"invalid_field", "bad_json"}, eb.Error.Code, r.body)
				require.Regexp(t, `^[A-Za-z.\[\]0-9_]+: `, eb.Error.Message, "the message names the field")
				requireNoGoNames(t, eb.Error.Message)
			}
			if tc.missing != "" {
				r = e.do(t, tc.method, tc.missing, tc.body)
				require.Equal(t, http.StatusNotFound, r.status, r.body)
				var eb errorBody
				require.NoError(t, json.Unmarshal([]byte(r.body), &eb))
				require.Equal(t, "not_found", eb.Error.Code)
			}
			r = e.do(t, tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, r.status, r.body)
			if tc.status != http.StatusNoContent {
				require.True(t, json.Valid([]byte(r.body)), r.body)
			}
		})
	}
}

// storeSnapshot is everything the routes can change.
func storeSnapshot(t *testing.T, e *testEnv) string {
	t.Helper()
	ctx := context.Background()
	page, err := e.store.ListChannels(ctx, store.ListOptions{Limit: store.MaxListLimit})
	require.NoError(t, err)
	recs, err := e.store.ListRecordings(ctx, store.RecordingQuery{})
	require.NoError(t, err)
	keys, err := e.store.ListAPIKeys(ctx)
	require.NoError(t, err)
	var settings []string
	for _, k := range []string{SettingDomains, SettingTemplates} {
		b, _ := e.store.GetSetting(ctx, k)
		settings = append(settings, string(b))
	}
	return mustJSON(t, []any{page.Channels, recs.Recordings, keys, settings})
}

// TestOpenAPIMatchesRoutes: every registered route is in the document and
// every documented operation is registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "GET", "/api/v1/openapi.json", "")
	require.Equal(t, 200, r.status)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &doc))
	require.Regexp(t, `^3\.`, doc.OpenAPI)
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	var registered []string
	param := regexp.MustCompile(`:([a-z]+)`)
	for _, rt := range e.handler.(*gin.Engine).Routes() {
		registered = append(registered, rt.Method+" "+param.ReplaceAllString(rt.Path, "{$1}"))
	}
	sort.Strings(documented)
	sort.Strings(registered)
	require.Equal(t, registered, documented)

	// The route table above covers every documented operation too.
	var tested []string
	for _, tc := range routeCases {
		p, _, _ := strings.Cut(tc.path, "?")
		p = regexp.MustCompile(`/(cam|rec-1|720p|key-probe)(/|$)`).ReplaceAllString(p, "/{id}$2")
		tested = append(tested, tc.method+" "+p)
	}
	tested = append(tested, "GET /healthz")
	sort.Strings(tested)
	require.Equal(t, registered, tested, "TestEveryRoute covers every route")
}
