package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/relay"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
)

func TestNewRequires(t *testing.T) {
	signer, err := signing.New(testKey())
	require.NoError(t, err)
	st := newEnv(t, nil).store
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no store", Config{Signer: signer, AdminToken: testToken}, "httpapi: Store and Signer are required"},
		{"no signer", Config{Store: st, AdminToken: testToken}, "httpapi: Store and Signer are required"},
		{"no token", Config{Store: st, Signer: signer}, "httpapi: AdminToken must be at least 16 characters"},
		{"short token", Config{Store: st, Signer: signer, AdminToken: "fifteen-chars-x"}, "httpapi: AdminToken must be at least 16 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			require.EqualError(t, err, tc.wantErr)
		})
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	unauthorized := errJSON("unauthorized", "a valid bearer token is required")
	for _, tc := range []struct {
		name   string
		header string
		status int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer wrong-token-0123456789", 401},
		{"token prefix", "Bearer " + testToken[:len(testToken)-1], 401},
		{"token with suffix", "Bearer " + testToken + "x", 401},
		{"token without scheme", testToken, 401},
		{"basic scheme", "Basic " + testToken, 401},
		{"two spaces", "Bearer  " + testToken, 401},
		{"right token", "Bearer " + testToken, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/channels", "/api/v1/streams", "/api/v1/channels/x", "/api/v1/channels/x/urls"} {
				r := e.doAuth(t, "GET", path, "", tc.header)
				if tc.status == 401 {
					require.Equal(t, 401, r.status, path)
					require.JSONEq(t, unauthorized, r.body, path)
					require.Equal(t, `Bearer realm="livestack"`, r.header.Get("WWW-Authenticate"), path)
				} else {
					require.NotEqual(t, 401, r.status, path)
					require.Empty(t, r.header.Get("WWW-Authenticate"), path)
				}
			}
			r := e.doAuth(t, "POST", "/api/v1/channels", `{"id":"auth-probe"}`, tc.header)
			require.Equal(t, map[bool]int{true: 401, false: 201}[tc.status == 401], r.status)
		})
	}
	// Nothing was created by the refused requests.
	page, err := e.store.ListChannels(context.Background(), store.ListOptions{})
	require.NoError(t, err)
	require.Len(t, page.Channels, 1)
}

func TestResponseHeaders(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "GET", "/api/v1/channels", "")
	require.Equal(t, 200, r.status)
	require.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	require.Regexp(t, `^[0-9a-f]{16}$`, r.header.Get("X-Request-Id"))
	require.NotEqual(t, r.header.Get("X-Request-Id"), e.do(t, "GET", "/api/v1/channels", "").header.Get("X-Request-Id"))
}

func TestUnknownRoute(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/api/v2/channels"},
		{"PUT", "/api/v1/channels"},
		{"GET", "/api/v1/channels/a/b/c"},
	} {
		r := e.do(t, tc.method, tc.path, "")
		require.Equal(t, 404, r.status, "%s %s", tc.method, tc.path)
		require.JSONEq(t, errJSON("not_found", "no such route"), r.body)
	}
}

func TestCreateChannel(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want string
	}{
		{
			name: "id and name: defaults applied, enabled by default",
			body: `{"id":"demo-1","name":"Demo"}`,
			want: channelJSON("demo-1", "Demo"),
		},
		{
			name: "zero values are defaults too",
			body: `{"id":"zeros","name":"z","outputs":{"hlsSegmentSeconds":0,"hlsListSize":0},"transcode":{"codec":""},"relay":null,"enabled":null}`,
			want: channelJSON("zeros", "z"),
		},
		{
			name: "client timestamps are replaced",
			body: `{"id":"ts","name":"t","createdAt":"2001-01-01T00:00:00Z","updatedAt":"2001-01-01T00:00:00Z"}`,
			want: channelJSON("ts", "t"),
		},
		{
			name: "disabled",
			body: `{"id":"off","enabled":false}`,
			want: `{
				"id": "off", "name": "", "description": "", "enabled": false,
				"outputs": {"cmaf": false, "hlsSegmentSeconds": 2, "hlsListSize": 6},
				"recording": {"mp4": false, "mp4SegmentSeconds": 60, "hlsVod": false, "snapshots": false, "snapshotSeconds": 10,
					"motion": {"enabled": false, "durationMillis": 5000, "percent": 30, "timeoutSeconds": 60, "diff": 10}},
				"transcode": {"enabled": false, "codec": "libx264", "renditions": []},
				"watermark": {}, "relay": [], "playAuth": false, "delivery": {},
				"createdAt": "2030-01-02T03:04:05Z", "updatedAt": "2030-01-02T03:04:05Z"
			}`,
		},
		{
			name: "every field set",
			body: `{
				"id": "Full_1", "name": "Full", "description": "all of it", "expiresAt": "2031-06-01T12:00:00+02:00",
				"enabled": true,
				"outputs": {"flv": false, "hls": true, "cmaf": true, "hlsSegmentSeconds": 4, "hlsListSize": 10},
				"recording": {"mp4": true, "mp4SegmentSeconds": 600, "hlsVod": true, "snapshots": true, "snapshotSeconds": 5,
					"motion": {"enabled": true, "durationMillis": 100, "percent": 100, "timeoutSeconds": 3600, "diff": 255}},
				"transcode": {"enabled": true, "codec": "libx265", "renditions": ["360p", "1080p"]},
				"watermark": {"text": {"text": "livestack", "fontSize": 24, "color": "#ffffff80", "top": 10, "left": 20},
					"image": {"url": "https://cdn.example/logo.png", "width": 64, "height": 32, "top": 0, "left": 8192}},
				"relay": [{"url": "rtmp://a.rtmp.youtube.com/live2/key"}, {"url": "rtmps://live.twitch.tv:443/app/key"}],
				"playAuth": true,
				"delivery": {"mergeWindowMillis": 0}
			}`,
			want: `{
				"id": "Full_1", "name": "Full", "description": "all of it", "expiresAt": "2031-06-01T12:00:00+02:00",
				"enabled": true,
				"outputs": {"flv": false, "hls": true, "cmaf": true, "hlsSegmentSeconds": 4, "hlsListSize": 10},
				"recording": {"mp4": true, "mp4SegmentSeconds": 600, "hlsVod": true, "snapshots": true, "snapshotSeconds": 5,
					"motion": {"enabled": true, "durationMillis": 100, "percent": 100, "timeoutSeconds": 3600, "diff": 255}},
				"transcode": {"enabled": true, "codec": "libx265", "renditions": ["360p", "1080p"]},
				"watermark": {"text": {"text": "livestack", "fontSize": 24, "color": "#ffffff80", "top": 10, "left": 20},
					"image": {"url": "https://cdn.example/logo.png", "width": 64, "height": 32, "top": 0, "left": 8192}},
				"relay": [{"url": "rtmp://a.rtmp.youtube.com/live2/key"}, {"url": "rtmps://live.twitch.tv:443/app/key"}],
				"playAuth": true,
				"delivery": {"mergeWindowMillis": 0},
				"createdAt": "2030-01-02T03:04:05Z", "updatedAt": "2030-01-02T03:04:05Z"
			}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.do(t, "POST", "/api/v1/channels", tc.body)
			require.Equal(t, 201, r.status, r.body)
			require.JSONEq(t, tc.want, r.body)
			var c channel.Channel
			require.NoError(t, jsonUnmarshal(r.body, &c))
			require.Equal(t, "/api/v1/channels/"+c.ID, r.header.Get("Location"))

			// The stored channel reads back the same.
			g := e.do(t, "GET", "/api/v1/channels/"+c.ID, "")
			require.Equal(t, 200, g.status)
			require.JSONEq(t, tc.want, g.body)
		})
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreateChannelGeneratesUUID(t *testing.T) {
	e := newEnv(t, nil)
	seen := map[string]bool{}
	for _, body := range []string{`{}`, `{"name":"no id"}`, `{"id":""}`} {
		r := e.do(t, "POST", "/api/v1/channels", body)
		require.Equal(t, 201, r.status, r.body)
		var c channel.Channel
		require.NoError(t, jsonUnmarshal(r.body, &c))
		require.Regexp(t, uuidV4, c.ID)
		require.True(t, channel.ValidID(c.ID))
		require.False(t, seen[c.ID])
		seen[c.ID] = true
		require.JSONEq(t, channelJSON(c.ID, c.Name), r.body)
		require.Equal(t, "/api/v1/channels/"+c.ID, r.header.Get("Location"))
	}
}

func TestCreateChannelDuplicate(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "POST", "/api/v1/channels", `{"id":"dup","name":"first"}`)
	require.Equal(t, 201, r.status)
	r = e.do(t, "POST", "/api/v1/channels", `{"id":"dup","name":"second"}`)
	require.Equal(t, 409, r.status)
	require.JSONEq(t, errJSON("exists", "a channel with this id exists"), r.body)
	r = e.do(t, "GET", "/api/v1/channels/dup", "")
	require.JSONEq(t, channelJSON("dup", "first"), r.body, "the first channel is kept")
}

type rejectCase struct {
	name    string
	body    string
	status  int
	code    string
	message string
}

// colorNames are the text watermark colour names (channel.TextColor), as refusals list them.
const colorNames = "aqua, black, blue, brown, cyan, fuchsia, gold, gray, green, grey, lime, magenta, maroon, navy, olive, orange, pink, purple, red, silver, teal, violet, white, yellow"

// rejectCases are refused creates; also seeds of FuzzCreateChannel.
var rejectCases = []rejectCase{
	{"segment too long", `{"outputs":{"hlsSegmentSeconds":31}}`, 400, "invalid_field", "outputs.hlsSegmentSeconds: must be 1-30, got 31"},
	{"segment negative", `{"outputs":{"hlsSegmentSeconds":-1}}`, 400, "invalid_field", "outputs.hlsSegmentSeconds: must be 1-30, got -1"},
	{"list too short", `{"outputs":{"hlsListSize":1}}`, 400, "invalid_field", "outputs.hlsListSize: must be 2-60, got 1"},
	{"mp4 segment", `{"recording":{"mp4SegmentSeconds":3601}}`, 400, "invalid_field", "recording.mp4SegmentSeconds: must be 1-3600, got 3601"},
	{"motion percent", `{"recording":{"motion":{"percent":101}}}`, 400, "invalid_field", "recording.motion.percent: must be 1-100, got 101"},
	{"motion duration", `{"recording":{"motion":{"durationMillis":99}}}`, 400, "invalid_field", "recording.motion.durationMillis: must be 100-3600000, got 99"},
	{"codec", `{"transcode":{"codec":"libvpx"}}`, 400, "invalid_field", `transcode.codec: must be libx264 or libx265, got "libvpx"`},
	{"rendition", `{"transcode":{"renditions":["720p","4k"]}}`, 400, "invalid_field", `transcode.renditions[1]: must be one of 360p, 480p, 720p, 1080p, got "4k"`},
	{"rendition twice", `{"transcode":{"renditions":["720p","720p"]}}`, 400, "invalid_field", `transcode.renditions[1]: "720p" listed twice`},
	{"relay scheme", `{"relay":[{"url":"http://example.com/live/x"}]}`, 400, "invalid_field", `relay[0].url: scheme must be rtmp or rtmps, got "http"`},
	{"too many relays", `{"relay":[{"url":"rtmp://h/a"},{"url":"rtmp://h/a"},{"url":"rtmp://h/a"},{"url":"rtmp://h/a"},{"url":"rtmp://h/a"},{"url":"rtmp://h/a"},{"url":"rtmp://h/a"},{"url":"rtmp://h/a"},{"url":"rtmp://h/a"}]}`, 400, "invalid_field", "relay: at most 8 targets"},
	{"watermark image over http", `{"watermark":{"image":{"url":"http://169.254.169.254/latest/meta-data"}}}`, 400, "invalid_field", "watermark.image.url: must be an https:// URL or a blob: key"},
	{"watermark text colour injection", `{"watermark":{"text":{"text":"x","color":"red:fontfile=/etc/passwd"}}}`, 400, "invalid_field", `watermark.text.color: must be #RRGGBB[AA] or one of ` + colorNames + `, got "red:fontfile=/etc/passwd"`},
	// Letters, but no name the worker draws (shared/watermark): refused here, not by the worker.
	{"watermark text colour not supported", `{"watermark":{"text":{"text":"x","color":"chartreuse"}}}`, 400, "invalid_field", `watermark.text.color: must be #RRGGBB[AA] or one of ` + colorNames + `, got "chartreuse"`},
	{"watermark text colour short hex", `{"watermark":{"text":{"text":"x","color":"#fff"}}}`, 400, "invalid_field", `watermark.text.color: must be #RRGGBB[AA] or one of ` + colorNames + `, got "#fff"`},
	{"watermark font size the worker refuses", `{"watermark":{"text":{"text":"x","fontSize":4}}}`, 400, "invalid_field", "watermark.text.fontSize: must be 0 (the default) or 8-512, got 4"},
	{"watermark text control character", `{"watermark":{"text":{"text":"a\u0007b"}}}`, 400, "invalid_field", "watermark.text.text: must be UTF-8 without control characters other than tab and newline"},
	{"watermark empty text", `{"watermark":{"text":{"text":""}}}`, 400, "invalid_field", "watermark.text.text: must be 1-256 bytes"},
	{"merge window", `{"delivery":{"mergeWindowMillis":1001}}`, 400, "invalid_field", "delivery.mergeWindowMillis: must be 0-1000, got 1001"},
	{"id traversal", `{"id":"../../etc/passwd"}`, 400, "invalid_field", "id: must be 1-64 letters, digits, '-' or '_'"},
	{"id with a dot", `{"id":"a.b"}`, 400, "invalid_field", "id: must be 1-64 letters, digits, '-' or '_'"},
	{"id with a slash", `{"id":"a/b"}`, 400, "invalid_field", "id: must be 1-64 letters, digits, '-' or '_'"},
	{"id of 65 characters", `{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`, 400, "invalid_field", "id: must be 1-64 letters, digits, '-' or '_'"},
	{"id starting with a dash", `{"id":"-x"}`, 400, "invalid_field", "id: must be 1-64 letters, digits, '-' or '_'"},
	{"unknown field", `{"id":"x","nope":1}`, 400, "invalid_field", `nope: unknown field`},
	{"earlier solution's flat field", `{"isFlv":true}`, 400, "invalid_field", `isFlv: unknown field`},
	{"unknown nested field", `{"outputs":{"dash":true}}`, 400, "invalid_field", `dash: unknown field`},
	{"wrong type", `{"name":1}`, 400, "invalid_field", "name: must be a string, got number"},
	{"wrong nested type", `{"outputs":{"hlsListSize":"5"}}`, 400, "invalid_field", "outputs.hlsListSize: must be an integer, got string"},
	{"bad time", `{"expiresAt":"tomorrow"}`, 400, "invalid_field", `time: "tomorrow" is not an RFC 3339 time such as 2030-12-09T00:00:00Z`},
	{"truncated", `{"id":"x"`, 400, "bad_json", "invalid JSON: unexpected end of input"},
	{"not an object", `[]`, 400, "invalid_field", "body: must be a JSON object"},
	{"garbage", `id=x`, 400, "bad_json", "invalid JSON at byte 1: invalid character 'i' looking for beginning of value"},
	{"empty body", ``, 400, "bad_json", "invalid JSON: empty body"},
	{"two objects", `{"id":"a"}{"id":"b"}`, 400, "bad_json", "invalid JSON: trailing data after the object"},
	{"trailing garbage", `{"id":"a"} x`, 400, "bad_json", "invalid JSON: trailing data after the object"},
}

func TestCreateChannelRejects(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", "/api/v1/channels", tc.body)
			require.Equal(t, tc.status, r.status, r.body)
			require.JSONEq(t, errJSON(tc.code, tc.message), r.body)
		})
	}
	page, err := e.store.ListChannels(context.Background(), store.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, page.Channels, "nothing refused was stored")
}

func TestCreateChannelBodyLimit(t *testing.T) {
	pad := func(n int) string { return `{"description":"` + repeat('a', n) + `"}` }
	for _, tc := range []struct {
		name   string
		limit  int64
		body   string
		status int
		want   string
	}{
		{"over the default 1 MiB", 0, pad(1 << 20), 413, errJSON("body_too_large", "request body over 1048576 bytes")},
		{"far over", 0, pad(8 << 20), 413, errJSON("body_too_large", "request body over 1048576 bytes")},
		{"over a configured limit", 100, pad(100), 413, errJSON("body_too_large", "request body over 100 bytes")},
		{"padding after the object", 0, `{"id":"x"}` + repeat(' ', 1<<20), 413, errJSON("body_too_large", "request body over 1048576 bytes")},
		{"whitespace after the object is fine", 0, "{\"id\":\"x\"}\r\n\t ", 201, channelJSON("x", "")},
		// Under the limit, the description is refused by validation, not by size.
		{"under the limit", 0, pad(4000), 400, errJSON("invalid_field", "description: longer than 2000 characters")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.MaxBodyBytes = tc.limit })
			r := e.do(t, "POST", "/api/v1/channels", tc.body)
			require.Equal(t, tc.status, r.status)
			require.JSONEq(t, tc.want, r.body)
		})
	}
}

func repeat(c byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func TestChannelIDPaths(t *testing.T) {
	e := newEnv(t, nil)
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"etc"}`).status)
	invalidID := errJSON("invalid_field", "id: must be 1-64 letters, digits, '-' or '_'")
	noRoute := errJSON("not_found", "no such route")
	for _, tc := range []struct {
		name   string
		id     string // as sent, escapes included
		status int
		want   string
	}{
		// gin routes on the decoded path, where these have more segments than :id.
		{"escaped traversal", "..%2F..", 404, noRoute},
		{"escaped traversal to a file", "..%2F..%2Fetc%2Fpasswd", 404, noRoute},
		{"dot dot", "..", 400, invalidID},
		{"escaped dots", "%2e%2e", 400, invalidID},
		{"dot in id", "a.b", 400, invalidID},
		{"escaped NUL", "a%00b", 400, invalidID},
		{"escaped backslash", "..%5C..", 400, invalidID},
		{"space", "a%20b", 400, invalidID},
		{"unicode", "%C3%A9t%C3%A9", 400, invalidID},
		{"65 characters", repeat('a', 65), 400, invalidID},
		{"raw traversal", "../../etc", 404, noRoute},
		{"unknown", "nope", 404, errJSON("not_found", "no such channel")},
		{"64 characters unknown", repeat('a', 64), 404, errJSON("not_found", "no such channel")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, suffix string }{
				{"GET", ""}, {"DELETE", ""}, {"GET", "/urls"},
			} {
				r := e.do(t, req.method, "/api/v1/channels/"+tc.id+req.suffix, "")
				require.Equal(t, tc.status, r.status, "%s %s: %s", req.method, req.suffix, r.body)
				require.JSONEq(t, tc.want, r.body)
			}
		})
	}
	// The channel named like the traversal target is untouched.
	require.Equal(t, 200, e.do(t, "GET", "/api/v1/channels/etc", "").status)
}

func TestListChannels(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "GET", "/api/v1/channels", "")
	require.Equal(t, 200, r.status)
	require.JSONEq(t, `{"channels":[]}`, r.body)

	ids := []string{"a", "b-1", "B_2", "c", "d", "e", "f"} // listed in byte order: "B_2" first
	for _, id := range ids {
		require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"`+id+`","name":"n"}`).status)
	}
	want := []string{"B_2", "a", "b-1", "c", "d", "e", "f"}

	r = e.do(t, "GET", "/api/v1/channels", "")
	require.Equal(t, 200, r.status)
	var all channelPage
	require.NoError(t, jsonUnmarshal(r.body, &all))
	require.Empty(t, all.Next)
	require.Equal(t, want, pageIDs(all))
	require.JSONEq(t, channelJSON("B_2", "n"), mustJSON(t, all.Channels[0]))

	for _, limit := range []string{"1", "2", "3", "6", "7", "1000"} {
		t.Run("limit "+limit, func(t *testing.T) {
			var got []string
			path := "/api/v1/channels?limit=" + limit
			for pages := 0; ; pages++ {
				require.Less(t, pages, 10)
				r := e.do(t, "GET", path, "")
				require.Equal(t, 200, r.status, r.body)
				var p channelPage
				require.NoError(t, jsonUnmarshal(r.body, &p))
				got = append(got, pageIDs(p)...)
				if p.Next == "" {
					break
				}
				require.NotContains(t, r.body, `"next":""`)
				path = "/api/v1/channels?limit=" + limit + "&cursor=" + p.Next
			}
			require.Equal(t, want, got)
		})
	}
}

func pageIDs(p channelPage) []string {
	ids := []string{}
	for _, c := range p.Channels {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestListChannelsRejects(t *testing.T) {
	e := newEnv(t, nil)
	badLimit := errJSON("invalid_field", "limit: must be 1-1000")
	badCursor := errJSON("invalid_field", "cursor: not a cursor this API issued")
	for _, tc := range []struct {
		query string
		want  string
	}{
		{"limit=0", badLimit},
		{"limit=-1", badLimit},
		{"limit=1001", badLimit},
		{"limit=ten", badLimit},
		{"limit=1e3", badLimit},
		{"limit=99999999999999999999", badLimit},
		{"cursor=abc", badCursor},
		{"cursor=%2F..%2F..", badCursor},
		{"cursor=" + repeat('A', 200), badCursor},
	} {
		r := e.do(t, "GET", "/api/v1/channels?"+tc.query, "")
		require.Equal(t, 400, r.status, tc.query)
		require.JSONEq(t, tc.want, r.body, tc.query)
	}
}

func TestGetChannel(t *testing.T) {
	e := newEnv(t, nil)
	created := e.do(t, "POST", "/api/v1/channels", `{"id":"g","name":"G","transcode":{"enabled":true,"renditions":["480p"]}}`)
	require.Equal(t, 201, created.status)
	r := e.do(t, "GET", "/api/v1/channels/g", "")
	require.Equal(t, 200, r.status)
	require.JSONEq(t, created.body, r.body)

	r = e.do(t, "GET", "/api/v1/channels/G", "")
	require.Equal(t, 404, r.status, "ids are case-sensitive")
	require.JSONEq(t, errJSON("not_found", "no such channel"), r.body)
}

func TestGetChannelNormalizesStoredChannels(t *testing.T) {
	// A channel written by an older version, without the newer defaults.
	e := newEnv(t, nil)
	require.NoError(t, e.store.CreateChannel(context.Background(), &channel.Channel{
		ID: "old", Name: "old", Enabled: true, CreatedAt: testNow, UpdatedAt: testNow,
	}))
	r := e.do(t, "GET", "/api/v1/channels/old", "")
	require.Equal(t, 200, r.status)
	require.JSONEq(t, channelJSON("old", "old"), r.body)
}

func TestDeleteChannel(t *testing.T) {
	var kicked []string
	e := newEnv(t, func(c *Config) {
		c.Streams = &fakeStreams{KickImpl: func(key, reason string) { kicked = append(kicked, key+": "+reason) }}
	})
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"del"}`).status)
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"keep"}`).status)

	r := e.do(t, "DELETE", "/api/v1/channels/del", "")
	require.Equal(t, 204, r.status)
	require.Empty(t, r.body)
	require.Equal(t, []string{"del: channel deleted"}, kicked)

	for _, req := range []struct{ method, path string }{
		{"GET", "/api/v1/channels/del"},
		{"DELETE", "/api/v1/channels/del"},
		{"GET", "/api/v1/channels/del/urls"},
	} {
		r = e.do(t, req.method, req.path, "")
		require.Equal(t, 404, r.status, "%s %s", req.method, req.path)
		require.JSONEq(t, errJSON("not_found", "no such channel"), r.body)
	}
	require.Len(t, kicked, 1, "a missing channel kicks nothing")
	require.Equal(t, 200, e.do(t, "GET", "/api/v1/channels/keep", "").status)

	// The id can be used again.
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"del"}`).status)
}

func TestChannelURLs(t *testing.T) {
	e := newEnv(t, nil)
	for _, body := range []string{
		`{"id":"cam-1"}`,
		`{"id":"expiring","expiresAt":"2030-01-05T00:00:00Z"}`,
		`{"id":"late","expiresAt":"2040-01-01T00:00:00Z"}`,
		`{"id":"no-flv","outputs":{"flv":false}}`,
	} {
		require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", body).status)
	}
	ttl := testNow.Add(30 * 24 * time.Hour) // the default PushURLTTL
	for _, tc := range []struct {
		id      string
		expires string
		play    string
	}{
		{"cam-1", ttl.Format("2006-01-02T15:04:05Z"), `{"flv":"https://play.example/cam-1/live.flv","rtmp":"rtmp://live.example:1935/stream/cam-1","hls":"https://play.example/cam-1/live.m3u8"}`},
		{"expiring", "2030-01-05T00:00:00Z", `{"flv":"https://play.example/expiring/live.flv","rtmp":"rtmp://live.example:1935/stream/expiring","hls":"https://play.example/expiring/live.m3u8"}`},
		{"late", ttl.Format("2006-01-02T15:04:05Z"), `{"flv":"https://play.example/late/live.flv","rtmp":"rtmp://live.example:1935/stream/late","hls":"https://play.example/late/live.m3u8"}`},
		{"no-flv", ttl.Format("2006-01-02T15:04:05Z"), `{"hls":"https://play.example/no-flv/live.m3u8"}`},
	} {
		t.Run(tc.id, func(t *testing.T) {
			r := e.do(t, "GET", "/api/v1/channels/"+tc.id+"/urls", "")
			require.Equal(t, 200, r.status, r.body)
			exp, err := parseTime(tc.expires)
			require.NoError(t, err)
			sign := e.signer.Sign(tc.id, exp)
			key := tc.id + "?sign=" + sign
			require.JSONEq(t, `{
				"push": "rtmp://live.example:1935/stream/`+key+`",
				"pushServer": "rtmp://live.example:1935/stream",
				"pushKey": "`+key+`",
				"pushExpiresAt": "`+tc.expires+`",
				"play": `+tc.play+`
			}`, r.body)

			var u ChannelURLs
			require.NoError(t, jsonUnmarshal(r.body, &u))
			got, err := parsePushURL(u.Push)
			require.NoError(t, err)
			require.Equal(t, tc.id, got.channel)
			require.NoError(t, e.signer.Verify(tc.id, got.sign, testNow), "the push URL verifies for its channel")
			require.ErrorIs(t, e.signer.Verify("other", got.sign, testNow), signing.ErrBadSignature, "and only for it")
			require.ErrorIs(t, e.signer.Verify(tc.id, got.sign, exp), signing.ErrExpired, "until it expires")
		})
	}
}

func TestListStreams(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams StreamSource
		want    string
	}{
		{"no source", nil, `{"streams":[]}`},
		{"no streams", &fakeStreams{}, `{"streams":[]}`},
		{"empty list", &fakeStreams{StreamsImpl: func() []StreamInfo { return []StreamInfo{} }}, `{"streams":[]}`},
		{"empty hub", HubStreams{Hub: hub.New(hub.Config{})}, `{"streams":[]}`},
		{
			"one stream",
			&fakeStreams{StreamsImpl: func() []StreamInfo {
				return []StreamInfo{{
					Stats: hub.Stats{Key: "cam-1", Live: true, Since: testNow, PublishedAt: testNow, Publisher: "10.0.0.1:5000",
						VideoCodec: "h264", VideoCodecString: "avc1.64001f", Width: 1280, Height: 720, FPS: 30, Viewers: 2},
					Relays: []relay.State{{URL: "rtmp://a.rtmp.youtube.com/live2/***", Status: "live", Since: testNow, Bytes: 1000}},
				}}
			}},
			`{"streams":[{"key":"cam-1","live":true,"since":"2030-01-02T03:04:05Z","publishedAt":"2030-01-02T03:04:05Z",
				"publisher":"10.0.0.1:5000","reconnects":0,"videoCodec":"h264","videoCodecString":"avc1.64001f",
				"width":1280,"height":720,"fps":30,"keyframeIntervalMs":0,"bitrateIn":0,"bitrateOut":0,"bytesIn":0,
				"bytesOut":0,"viewers":2,"viewersPeak":0,"viewersTotal":0,"subscribersDropped":0,"skips":0,
				"badPackets":0,"discontinuities":0,"uptimeSeconds":0,"gopCacheMs":0,"retainedBytes":0,
				"relays":[{"url":"rtmp://a.rtmp.youtube.com/live2/***","status":"live","since":"2030-01-02T03:04:05Z","bytes":1000,"reconnects":0}]}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Streams = tc.streams })
			r := e.do(t, "GET", "/api/v1/streams", "")
			require.Equal(t, 200, r.status)
			require.JSONEq(t, tc.want, r.body)
		})
	}
}

func TestHubStreams(t *testing.T) {
	h := hub.New(hub.Config{ReconnectWindow: -1, Logger: slog.New(slog.DiscardHandler)})
	defer h.Close()
	for _, key := range []string{"cam", "cam/720p", "camera", "other"} {
		p, err := h.Publish(key, hub.PublishOptions{Remote: "10.0.0.1:1"})
		require.NoError(t, err)
		require.NoError(t, p.WriteVideo(0, []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}))
	}
	src := HubStreams{Hub: h}
	var keys []string
	for _, s := range src.Streams() {
		keys = append(keys, s.Key)
		require.True(t, s.Live)
		require.Equal(t, []relay.State{}, s.Relays)
	}
	require.Equal(t, []string{"cam", "cam/720p", "camera", "other"}, keys)

	e := newEnv(t, func(c *Config) { c.Streams = src })
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"cam"}`).status)
	r := e.do(t, "GET", "/api/v1/streams", "")
	require.Equal(t, 200, r.status)
	require.Contains(t, r.body, `"key":"cam/720p"`)

	// Deleting channel cam ends cam and its renditions, not camera.
	require.Equal(t, 204, e.do(t, "DELETE", "/api/v1/channels/cam", "").status)
	keys = nil
	for _, s := range src.Streams() {
		keys = append(keys, s.Key)
	}
	require.Equal(t, []string{"camera", "other"}, keys)
}

// brokenStore fails (or panics) where its funcs say so and defers to a real store otherwise.
type brokenStore struct {
	store.Store
	GetChannelImpl    func(ctx context.Context, id string) (*channel.Channel, error)
	CreateChannelImpl func(ctx context.Context, c *channel.Channel) error
	ListChannelsImpl  func(ctx context.Context, opts store.ListOptions) (store.Page, error)
}

func (s *brokenStore) GetChannel(ctx context.Context, id string) (*channel.Channel, error) {
	return s.GetChannelImpl(ctx, id)
}

func (s *brokenStore) CreateChannel(ctx context.Context, c *channel.Channel) error {
	return s.CreateChannelImpl(ctx, c)
}

func (s *brokenStore) ListChannels(ctx context.Context, opts store.ListOptions) (store.Page, error) {
	return s.ListChannelsImpl(ctx, opts)
}

func TestStoreFailuresAreNotEchoed(t *testing.T) {
	cause := errors.New("bbolt: disk on fire at /var/lib/livestack/secret.db")
	e := newEnv(t, func(c *Config) {
		c.Store = &brokenStore{
			Store:             c.Store,
			GetChannelImpl:    func(context.Context, string) (*channel.Channel, error) { return nil, cause },
			CreateChannelImpl: func(context.Context, *channel.Channel) error { return cause },
			ListChannelsImpl:  func(context.Context, store.ListOptions) (store.Page, error) { panic("list exploded") },
		}
	})
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/api/v1/channels/x", "", 500, errJSON("store", "could not read the channel")},
		{"GET", "/api/v1/channels/x/urls", "", 500, errJSON("store", "could not read the channel")},
		{"DELETE", "/api/v1/channels/x", "", 500, errJSON("store", "could not read the channel")},
		{"POST", "/api/v1/channels", `{"id":"x"}`, 500, errJSON("store", "could not store the channel")},
		{"GET", "/api/v1/channels", "", 500, errJSON("internal", "internal error")},
	} {
		r := e.do(t, tc.method, tc.path, tc.body)
		require.Equal(t, tc.status, r.status, "%s %s", tc.method, tc.path)
		require.JSONEq(t, tc.want, r.body)
		require.NotContains(t, r.body, "fire")
		require.NotContains(t, r.body, "exploded")
	}
}
