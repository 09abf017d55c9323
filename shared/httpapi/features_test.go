package httpapi

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/playauth"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
)

func TestAPIKeys(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "POST", "/api/v1/keys", `{"name":"ci"}`)
	require.Equal(t, 201, r.status, r.body)
	var created struct {
		ID, Name, Prefix, Secret string
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &created))
	require.True(t, strings.HasPrefix(created.Secret, "lsk_"))
	require.Equal(t, created.Secret[:12], created.Prefix)
	require.Equal(t, "/api/v1/keys/"+created.ID, r.header.Get("Location"))

	// Stored hashed only.
	ks, err := e.store.ListAPIKeys(context.Background())
	require.NoError(t, err)
	require.Len(t, ks, 1)
	require.NotContains(t, mustJSON(t, ks), created.Secret)

	// The secret works, with the scheme in any case.
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		require.Equal(t, 200, e.doAuth(t, "GET", "/api/v1/channels", "", scheme+" "+created.Secret).status, scheme)
	}
	// The list never shows it (nor its hash).
	l := e.do(t, "GET", "/api/v1/keys", "")
	require.Equal(t, 200, l.status)
	require.NotContains(t, l.body, created.Secret)
	require.NotContains(t, l.body, ks[0].Hash)
	require.NotContains(t, l.body, `"secret"`)
	require.JSONEq(t, `{"keys":[{"id":"`+created.ID+`","name":"ci","prefix":"`+created.Prefix+`","createdAt":"2030-01-02T03:04:05Z"}]}`, l.body)

	// An API key cannot manage keys.
	for _, m := range []struct{ method, path, body string }{{"GET", "/api/v1/keys", ""}, {"POST", "/api/v1/keys", `{}`}, {"DELETE", "/api/v1/keys/" + created.ID, ""}} {
		f := e.doAuth(t, m.method, m.path, m.body, "Bearer "+created.Secret)
		require.Equal(t, 403, f.status, f.body)
		require.Equal(t, "forbidden", errCode(t, f.body))
	}

	// Revoked: refused.
	require.Equal(t, 204, e.do(t, "DELETE", "/api/v1/keys/"+created.ID, "").status)
	require.Equal(t, 401, e.doAuth(t, "GET", "/api/v1/channels", "", "Bearer "+created.Secret).status)
	require.Equal(t, 404, e.do(t, "DELETE", "/api/v1/keys/"+created.ID, "").status)

	// Expired: refused.
	r = e.do(t, "POST", "/api/v1/keys", `{"name":"short","expiresAt":"2030-01-02T04:00:00Z"}`)
	require.Equal(t, 201, r.status, r.body)
	require.NoError(t, json.Unmarshal([]byte(r.body), &created))
	require.Equal(t, 200, e.doAuth(t, "GET", "/api/v1/streams", "", "Bearer "+created.Secret).status)
	later := newEnvOn(t, e, testNow.Add(2*time.Hour))
	require.Equal(t, 401, later.doAuth(t, "GET", "/api/v1/streams", "", "Bearer "+created.Secret).status)
}

// newEnvOn is another API over e's store with its clock at now.
func newEnvOn(t *testing.T, e *testEnv, now time.Time) *testEnv {
	return newEnv(t, func(c *Config) { c.Store = e.store; c.Now = func() time.Time { return now } })
}

func errCode(t *testing.T, body string) string {
	t.Helper()
	var eb errorBody
	require.NoError(t, json.Unmarshal([]byte(body), &eb), body)
	return eb.Error.Code
}

func TestRotateKey(t *testing.T) {
	var kicked []string
	e := newEnv(t, func(c *Config) {
		c.Streams = &fakeStreams{KickImpl: func(key, reason string) { kicked = append(kicked, key+": "+reason) }}
	})
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"cam"}`).status)
	var before, after ChannelURLs
	require.NoError(t, json.Unmarshal([]byte(e.do(t, "GET", "/api/v1/channels/cam/urls", "").body), &before))
	r := e.do(t, "POST", "/api/v1/channels/cam/rotate-key", "")
	require.Equal(t, 200, r.status, r.body)
	require.NoError(t, json.Unmarshal([]byte(r.body), &after))
	require.NotEqual(t, before.Push, after.Push)
	require.Equal(t, []string{"cam: push key rotated"}, kicked)

	ch, err := e.store.GetChannel(context.Background(), "cam")
	require.NoError(t, err)
	require.EqualValues(t, 1, ch.PushKeyEpoch)
	oldSign, _ := parsePushURL(before.Push)
	newSign, _ := parsePushURL(after.Push)
	epoch := e.signer.ForEpoch(ch.PushKeyEpoch)
	require.ErrorIs(t, epoch.Verify("cam", oldSign.sign, testNow), signing.ErrBadSignature, "the old push URL stops working")
	require.NoError(t, epoch.Verify("cam", newSign.sign, testNow))

	// /urls now hands out the new epoch's URL; PUT and PATCH keep the epoch.
	var again ChannelURLs
	require.NoError(t, json.Unmarshal([]byte(e.do(t, "GET", "/api/v1/channels/cam/urls", "").body), &again))
	require.Equal(t, after.Push, again.Push)
	require.Equal(t, 200, e.do(t, "PUT", "/api/v1/channels/cam", `{"name":"x","pushKeyEpoch":0}`).status)
	require.Equal(t, 200, e.do(t, "PATCH", "/api/v1/channels/cam", `{"pushKeyEpoch":7}`).status)
	ch, err = e.store.GetChannel(context.Background(), "cam")
	require.NoError(t, err)
	require.EqualValues(t, 1, ch.PushKeyEpoch)

	// Lists never carry push signatures.
	l := e.do(t, "GET", "/api/v1/channels", "")
	require.NotContains(t, l.body, "sign=")
	require.NotContains(t, l.body, oldSign.sign)
}

func TestUpdateChannel(t *testing.T) {
	e := newEnv(t, nil)
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"cam","name":"Cam","description":"d","outputs":{"cmaf":true,"hlsListSize":10},"relay":[{"url":"rtmp://a.example/live/k"}]}`).status)
	later := newEnvOn(t, e, testNow.Add(time.Hour))

	// PATCH: present fields change, null resets, absent fields stay.
	r := later.do(t, "PATCH", "/api/v1/channels/cam", `{"name":"Cam 2","outputs":{"hlsListSize":null,"flv":false},"enabled":false}`)
	require.Equal(t, 200, r.status, r.body)
	var ch channel.Channel
	require.NoError(t, json.Unmarshal([]byte(r.body), &ch))
	require.Equal(t, "Cam 2", ch.Name)
	require.Equal(t, "d", ch.Description)
	require.True(t, ch.Outputs.CMAF)
	require.Equal(t, channel.DefaultHLSListSize, ch.Outputs.HLSListSize)
	require.False(t, ch.Outputs.FLVEnabled())
	require.False(t, ch.Enabled)
	require.Len(t, ch.Relay, 1)
	require.Equal(t, testNow, ch.CreatedAt.UTC())
	require.Equal(t, testNow.Add(time.Hour), ch.UpdatedAt.UTC())
	g := e.do(t, "GET", "/api/v1/channels/cam", "")
	require.JSONEq(t, r.body, g.body, "stored as answered")

	// PUT: everything omitted takes its default.
	r = e.do(t, "PUT", "/api/v1/channels/cam", `{"name":"Replaced"}`)
	require.Equal(t, 200, r.status, r.body)
	want := channelJSON("cam", "Replaced")
	require.JSONEq(t, want, r.body)

	for _, tc := range []struct{ method, body, code, msg string }{
		{"PUT", `{"id":"other"}`, "invalid_field", "id: cannot be changed"},
		{"PATCH", `{"id":"other"}`, "invalid_field", "id: cannot be changed"},
		{"PATCH", `{"outputs":{"hlsSegmentSeconds":99}}`, "invalid_field", "outputs.hlsSegmentSeconds: must be 1-30, got 99"},
		{"PATCH", `{"outputs":{"hlsSegmentSeconds":"4"}}`, "invalid_field", "outputs.hlsSegmentSeconds: must be an integer, got string"},
		{"PATCH", `{"nope":1}`, "invalid_field", "nope: unknown field"},
		{"PATCH", `[1]`, "invalid_field", "body: must be a JSON object"},
		{"PATCH", `null`, "invalid_field", "body: must be a JSON object"},
		{"PUT", `{"transcode":{"renditions":["4k"]}}`, "invalid_field", `transcode.renditions[0]: must be one of 360p, 480p, 720p, 1080p, got "4k"`},
	} {
		r := e.do(t, tc.method, "/api/v1/channels/cam", tc.body)
		require.Equal(t, 400, r.status, "%s %s: %s", tc.method, tc.body, r.body)
		require.JSONEq(t, errJSON(tc.code, tc.msg), r.body)
	}
}

func TestChannelURLsAllFormats(t *testing.T) {
	e := newEnv(t, nil)
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"all","outputs":{"cmaf":true},"recording":{"snapshots":true},"transcode":{"enabled":true,"renditions":["360p","720p"]}}`).status)
	r := e.do(t, "GET", "/api/v1/channels/all/urls", "")
	require.Equal(t, 200, r.status, r.body)
	var u ChannelURLs
	require.NoError(t, json.Unmarshal([]byte(r.body), &u))
	const b = "https://play.example/all"
	require.Equal(t, map[string]string{
		"flv": b + "/live.flv", "rtmp": "rtmp://live.example:1935/stream/all", "hls": b + "/live.m3u8",
		"cmaf": b + "/master.m3u8", "dash": b + "/manifest.mpd", "snapshot": b + "/snapshot.jpg", "abr": b + "/index.m3u8",
	}, u.Play)
	require.Equal(t, map[string]map[string]string{
		"360p": {"hls": b + "/360p/index.m3u8", "flv": b + "/360p/live.flv"},
		"720p": {"hls": b + "/720p/index.m3u8", "flv": b + "/720p/live.flv"},
	}, u.Renditions)
	require.Empty(t, u.PlayExpiresAt, "not signed: the channel does not require it")

	// QR codes are PNG pictures of one URL.
	for _, f := range []string{"push", "flv", "hls", "cmaf", "dash", "abr", "snapshot", "rtmp"} {
		q := e.do(t, "GET", "/api/v1/channels/all/urls?qr="+f, "")
		require.Equal(t, 200, q.status, f)
		require.Equal(t, "image/png", q.header.Get("Content-Type"))
		img, err := png.Decode(strings.NewReader(q.body))
		require.NoError(t, err, f)
		require.Equal(t, 320, img.Bounds().Dx())
	}
	require.Equal(t, 400, e.do(t, "GET", "/api/v1/channels/all/urls?qr=svg", "").status)
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"plain","outputs":{"flv":false}}`).status)
	q := e.do(t, "GET", "/api/v1/channels/plain/urls?qr=flv", "")
	require.Equal(t, 404, q.status)
	require.JSONEq(t, errJSON("not_found", "qr: flv is not enabled for this channel"), q.body)

	// Domains move every URL.
	require.Equal(t, 200, e.do(t, "PUT", "/api/v1/domains", `{"push":"rtmps://push.example.com:443/","play":"https://cdn.example.com"}`).status)
	require.NoError(t, json.Unmarshal([]byte(e.do(t, "GET", "/api/v1/channels/all/urls", "").body), &u))
	require.True(t, strings.HasPrefix(u.Push, "rtmps://push.example.com:443/stream/all?sign="), u.Push)
	require.Equal(t, "https://cdn.example.com/all/live.flv", u.Play["flv"])
	d := e.do(t, "GET", "/api/v1/domains", "")
	require.JSONEq(t, `{"push":"rtmps://push.example.com:443","play":"https://cdn.example.com","effective":{"push":"rtmps://push.example.com:443","play":"https://cdn.example.com"}}`, d.body)
	for _, bad := range []struct{ body, msg string }{
		{`{"push":"rtmp://x.example/app"}`, "push: must be rtmp|rtmps://host[:port] with no path"},
		{`{"play":"ftp://x.example"}`, "play: must be http|https://host[:port] with no path"},
		{`{"play":"https://"}`, "play: must be http|https://host[:port] with no path"},
	} {
		r := e.do(t, "PUT", "/api/v1/domains", bad.body)
		require.Equal(t, 400, r.status)
		require.JSONEq(t, errJSON("invalid_field", bad.msg), r.body)
	}
}

func TestSignedPlayURLs(t *testing.T) {
	e := newEnv(t, nil)
	require.Equal(t, 201, e.do(t, "POST", "/api/v1/channels", `{"id":"vip","playAuth":true,"outputs":{"cmaf":true},"transcode":{"enabled":true,"renditions":["480p"]}}`).status)
	r := e.do(t, "GET", "/api/v1/channels/vip/urls", "")
	require.Equal(t, 200, r.status, r.body)
	var u ChannelURLs
	require.NoError(t, json.Unmarshal([]byte(r.body), &u))
	require.Equal(t, "2030-01-03T03:04:05Z", u.PlayExpiresAt)
	ps := testPlaySigner(t)
	v := &playauth.Verifier{Keys: map[string]*rsa.PublicKey{ps.KeyID(): ps.PublicKey()}, Now: func() time.Time { return testNow }}
	check := func(raw string) error {
		pu, err := url.Parse(raw)
		require.NoError(t, err)
		return v.Verify(playauth.Request{Path: pu.EscapedPath(), RawQuery: pu.RawQuery, Bases: []string{"https://play.example"}})
	}
	require.Contains(t, u.Play["flv"], "Expires=", "FLV: canned policy")
	require.NoError(t, check(u.Play["flv"]))
	for _, f := range []string{"hls", "cmaf", "dash", "abr"} {
		require.Contains(t, u.Play[f], "Policy=", f)
		require.NoError(t, check(u.Play[f]), f)
		// The family policy covers the channel's segment files with the same query.
		_, q, _ := strings.Cut(u.Play[f], "?")
		require.NoError(t, check("https://play.example/vip/seg123.m4s?"+q), f)
		require.ErrorIs(t, check("https://play.example/other/seg123.m4s?"+q), playauth.ErrWrongResource, f)
	}
	require.NoError(t, check(u.Renditions["480p"]["hls"]))
	require.NoError(t, check(u.Renditions["480p"]["flv"]))
	// RTMP play carries the FLV signature, checked as /vip/live.flv.
	_, rq, _ := strings.Cut(u.Play["rtmp"], "?")
	require.NoError(t, v.Verify(playauth.Request{Path: "/vip/live.flv", RawQuery: rq, Bases: []string{"https://play.example"}}))

	// ?ip= restricts every URL to an address range (custom policy).
	r = e.do(t, "GET", "/api/v1/channels/vip/urls?ip=203.0.113.0/24", "")
	require.Equal(t, 200, r.status, r.body)
	require.NoError(t, json.Unmarshal([]byte(r.body), &u))
	pu, _ := url.Parse(u.Play["flv"])
	req := playauth.Request{Path: pu.EscapedPath(), RawQuery: pu.RawQuery, Bases: []string{"https://play.example"}, ClientIP: netip.MustParseAddr("203.0.113.9")}
	require.NoError(t, v.Verify(req))
	req.ClientIP = netip.MustParseAddr("198.51.100.9")
	require.ErrorIs(t, v.Verify(req), playauth.ErrIPMismatch)
	bad := e.do(t, "GET", "/api/v1/channels/vip/urls?ip=nope", "")
	require.Equal(t, 400, bad.status)
	require.JSONEq(t, errJSON("invalid_field", "ip: must be an address or a CIDR range"), bad.body)

	// Without a play key, such a channel has no play URLs.
	noKey := newEnv(t, func(c *Config) { c.Store = e.store; c.PlaySigner = nil })
	r = noKey.do(t, "GET", "/api/v1/channels/vip/urls", "")
	require.Equal(t, 503, r.status)
	require.Equal(t, "play_signing_unavailable", errCode(t, r.body))
}

func TestTemplates(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "GET", "/api/v1/templates", "")
	require.Equal(t, 200, r.status)
	require.JSONEq(t, `{"templates":[
		{"id":"360p","name":"流畅","width":640,"height":360,"videoKbps":400,"maxKbps":600,"bufferKbps":600,"audioKbps":64,"bandwidth":800000},
		{"id":"480p","name":"标清","width":854,"height":480,"videoKbps":600,"maxKbps":900,"bufferKbps":900,"audioKbps":64,"bandwidth":1400000},
		{"id":"720p","name":"高清","width":1280,"height":720,"videoKbps":1000,"maxKbps":1500,"bufferKbps":1500,"audioKbps":128,"bandwidth":2800000},
		{"id":"1080p","name":"超清","width":1920,"height":1080,"videoKbps":2000,"maxKbps":3000,"bufferKbps":3000,"audioKbps":128,"bandwidth":3500000}]}`, r.body)
	r = e.do(t, "PUT", "/api/v1/templates/720p", `{"name":"HD+","width":1280,"height":720,"videoKbps":1200,"audioKbps":96}`)
	require.Equal(t, 200, r.status, r.body)
	require.JSONEq(t, `{"id":"720p","name":"HD+","width":1280,"height":720,"videoKbps":1200,"maxKbps":1800,"bufferKbps":1800,"audioKbps":96,"bandwidth":1896000}`, r.body)
	ts, err := LoadTemplates(context.Background(), e.store)
	require.NoError(t, err)
	require.Equal(t, "HD+", ts[2].Name)
	require.Equal(t, DefaultTemplates()[0], ts[0])
	require.JSONEq(t, r.body, e.do(t, "GET", "/api/v1/templates/720p", "").body)
	for _, bad := range []struct{ body, msg string }{
		{`{"name":"","width":1280,"height":720,"videoKbps":1200,"audioKbps":96}`, "name: must be 1-64 bytes"},
		{`{"name":"x","width":1280,"height":721,"videoKbps":1200,"audioKbps":96}`, "height: must be an even number 16-4320"},
		{`{"name":"x","width":1280,"height":720,"videoKbps":10,"audioKbps":96}`, "videoKbps: must be 50-50000"},
		{`{"id":"1080p","name":"x","width":1280,"height":720,"videoKbps":1200,"audioKbps":96}`, "id: cannot be changed"},
	} {
		r := e.do(t, "PUT", "/api/v1/templates/720p", bad.body)
		require.Equal(t, 400, r.status)
		require.JSONEq(t, errJSON("invalid_field", bad.msg), r.body)
	}
}

func TestRecordings(t *testing.T) {
	bs := newTestBlobs(t)
	e := newEnv(t, func(c *Config) { c.Blobs = bs })
	ctx := context.Background()
	put := func(id, ch string, start time.Time, status string, keys ...string) {
		end := start.Add(time.Minute)
		r := &store.Recording{ID: id, ChannelID: ch, Kind: store.KindMP4, Status: status, StartedAt: start, Prefix: "rec/" + ch + "/" + id + "/", Keys: keys, UpdatedAt: start}
		if status != store.StatusRecording {
			r.EndedAt = &end
		}
		require.NoError(t, e.store.PutRecording(ctx, r))
		for _, k := range keys {
			require.NoError(t, bs.Put(ctx, k, bytes.NewReader([]byte("data")), 4, ""))
		}
	}
	for i := range 5 {
		id := "r" + string(rune('0'+i))
		put(id, "cam", testNow.Add(time.Duration(i)*time.Hour), store.StatusComplete, "rec/cam/"+id+"/000001.mp4", "rec/cam/"+id+"/000002.mp4")
	}
	put("o1", "other", testNow, store.StatusComplete)
	put("live", "cam", testNow.Add(10*time.Hour), store.StatusRecording)
	// A stray object under r1's prefix, not listed in its keys.
	require.NoError(t, bs.Put(ctx, "rec/cam/r1/extra.jpg", bytes.NewReader([]byte("x")), 1, ""))

	ids := func(body string) ([]string, string) {
		var p struct {
			Recordings []store.Recording
			Next       string
		}
		require.NoError(t, json.Unmarshal([]byte(body), &p), body)
		var out []string
		for _, r := range p.Recordings {
			out = append(out, r.ID)
		}
		return out, p.Next
	}
	r := e.do(t, "GET", "/api/v1/recordings?channel=cam&since=2030-01-02T04:04:05Z&until=2030-01-02T07:04:05Z", "")
	require.Equal(t, 200, r.status, r.body)
	got, _ := ids(r.body)
	require.Equal(t, []string{"r3", "r2", "r1"}, got, "newest first, since inclusive, until exclusive")
	// Cursor pagination walks everything once.
	var all []string
	cursor := ""
	for range 10 {
		r = e.do(t, "GET", "/api/v1/recordings?limit=2&cursor="+url.QueryEscape(cursor), "")
		require.Equal(t, 200, r.status, r.body)
		page, next := ids(r.body)
		all = append(all, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	require.ElementsMatch(t, []string{"r0", "r1", "r2", "r3", "r4", "o1", "live"}, all)
	for _, bad := range []struct{ q, msg string }{
		{"cursor=garbage", "cursor: not a cursor this API issued"},
		{"kind=avi", "kind: must be mp4, hls, snapshot or motion"},
		{"until=2030-01-01T00:00:00Z&since=2030-01-02T00:00:00Z", "until: must be after since"},
		{"channel=a/b", "channel: must be 1-64 letters, digits, '-' or '_'"},
		{"limit=1001", "limit: must be 1-1000"},
	} {
		r := e.do(t, "GET", "/api/v1/recordings?"+bad.q, "")
		require.Equal(t, 400, r.status, bad.q)
		require.JSONEq(t, errJSON("invalid_field", bad.msg), r.body, bad.q)
	}

	// Delete removes the objects, then the index entry.
	require.Equal(t, 204, e.do(t, "DELETE", "/api/v1/recordings/r1", "").status)
	for _, k := range []string{"rec/cam/r1/000001.mp4", "rec/cam/r1/000002.mp4", "rec/cam/r1/extra.jpg"} {
		_, err := bs.Stat(ctx, k)
		require.Error(t, err, k)
	}
	_, err := bs.Stat(ctx, "rec/cam/r2/000001.mp4")
	require.NoError(t, err, "other recordings keep their files")
	require.Equal(t, 404, e.do(t, "GET", "/api/v1/recordings/r1", "").status)
	r = e.do(t, "DELETE", "/api/v1/recordings/live", "")
	require.Equal(t, 409, r.status)
	require.Equal(t, "recording_in_progress", errCode(t, r.body))
	noBlobs := newEnv(t, func(c *Config) { c.Store = e.store })
	r = noBlobs.do(t, "DELETE", "/api/v1/recordings/r2", "")
	require.Equal(t, 503, r.status)
	require.Equal(t, 200, e.do(t, "GET", "/api/v1/recordings/r2", "").status, "nothing deleted")
}

// statSource adds figures under extra.
type statSource struct{}

func (statSource) Name() string { return "transcode" }
func (statSource) StreamStats(key string) any {
	if key == "cam/720p" {
		return map[string]any{"speed": 1.01}
	}
	return nil
}

func TestStreamsFromSessions(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.StreamStats = []StreamStats{statSource{}} })
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	require.NoError(t, e.store.AcquireSession(ctx, store.Session{ChannelID: "cam", SessionID: "s1", Gateway: "10.0.3.7:8080", Region: "eu-west-1", StartedAt: now, ExpiresAt: now.Add(time.Minute)}))
	r := e.do(t, "GET", "/api/v1/streams", "")
	require.Equal(t, 200, r.status)
	var out struct{ Streams []StreamInfo }
	require.NoError(t, json.Unmarshal([]byte(r.body), &out))
	require.Len(t, out.Streams, 1)
	require.Equal(t, "cam", out.Streams[0].Key)
	require.Equal(t, "10.0.3.7:8080", out.Streams[0].Gateway)
	require.Equal(t, "eu-west-1", out.Streams[0].Region)
	require.True(t, out.Streams[0].Since.Equal(now))

	// With a hub source, sessions add the gateway to the hub's stats, and
	// stat sources add their figures.
	withHub := newEnv(t, func(c *Config) {
		c.Store = e.store
		c.StreamStats = []StreamStats{statSource{}}
		c.Streams = &fakeStreams{StreamsImpl: func() []StreamInfo {
			return []StreamInfo{{Stats: hub.Stats{Key: "cam/720p", FPS: 30}}, {Stats: hub.Stats{Key: "cam", FPS: 25, Viewers: 3}}}
		}}
	})
	r = withHub.do(t, "GET", "/api/v1/streams", "")
	require.NoError(t, json.Unmarshal([]byte(r.body), &out))
	require.Len(t, out.Streams, 2)
	require.Equal(t, "cam", out.Streams[0].Key)
	require.Equal(t, 3, out.Streams[0].Viewers)
	require.Equal(t, "10.0.3.7:8080", out.Streams[0].Gateway)
	require.Nil(t, out.Streams[0].Extra)
	require.Equal(t, "10.0.3.7:8080", out.Streams[1].Gateway)
	require.Equal(t, map[string]any{"transcode": map[string]any{"speed": 1.01}}, out.Streams[1].Extra)
}

func TestCORS(t *testing.T) {
	_, err := New(Config{Store: newEnv(t, nil).store, Signer: mustSigner(t), AdminToken: testToken, CORSOrigins: []string{"*"}})
	require.ErrorContains(t, err, "not a wildcard")
	e := newEnv(t, func(c *Config) { c.CORSOrigins = []string{"https://console.example.com"} })
	pre := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/api/v1/channels", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	ok := pre("https://console.example.com")
	require.Equal(t, 204, ok.StatusCode)
	require.Equal(t, "https://console.example.com", ok.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, ok.Header.Get("Access-Control-Allow-Headers"), "Authorization")
	no := pre("https://evil.example.com")
	require.Equal(t, 403, no.StatusCode)
	require.Empty(t, no.Header.Get("Access-Control-Allow-Origin"))

	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/channels", nil)
	req.Header.Set("Origin", "https://evil.example.com")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "no CORS grant for other origins")
}

func mustSigner(t *testing.T) *signing.Signer {
	s, err := signing.New(testKey())
	require.NoError(t, err)
	return s
}

func TestHealthzNeedsNoCredentials(t *testing.T) {
	e := newEnv(t, nil)
	r := e.doAuth(t, "GET", "/healthz", "", "")
	require.Equal(t, 200, r.status)
	require.JSONEq(t, `{"status":"ok"}`, r.body)
}

func TestAPIGatewayIdentity(t *testing.T) {
	id := APIGatewayIdentity(APIGatewayAuth{
		CognitoIssuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", CognitoGroup: "admins",
		AllowAPIKeys: true, IAMPrincipals: []string{"arn:aws:iam::123456789012:role/automation"},
	})
	claims := func(m map[string]any) events.APIGatewayProxyRequestContext {
		return events.APIGatewayProxyRequestContext{Authorizer: map[string]any{"claims": m}}
	}
	good := map[string]any{"sub": "u-1", "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", "token_use": "id", "cognito:groups": "[admins ops]"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name string
		rc   *events.APIGatewayProxyRequestContext
		want *Caller
	}{
		{"no context", nil, nil},
		{"cognito user", ptr(claims(good)), &Caller{Kind: CallerUser, ID: "u-1"}},
		{"groups as list", ptr(claims(with("cognito:groups", []any{"admins"}))), &Caller{Kind: CallerUser, ID: "u-1"}},
		{"not in group", ptr(claims(with("cognito:groups", "ops"))), nil},
		{"other pool", ptr(claims(with("iss", "https://cognito-idp.eu-west-1.amazonaws.com/other"))), nil},
		{"no subject", ptr(claims(with("sub", ""))), nil},
		{"refresh token", ptr(claims(with("token_use", "refresh"))), nil},
		{"api gateway key", &events.APIGatewayProxyRequestContext{Identity: events.APIGatewayRequestIdentity{APIKeyID: "abc123"}}, &Caller{Kind: CallerGatewayKey, ID: "abc123"}},
		{"allowed IAM role", &events.APIGatewayProxyRequestContext{Identity: events.APIGatewayRequestIdentity{UserArn: "arn:aws:iam::123456789012:role/automation"}}, &Caller{Kind: CallerGatewayKey, ID: "arn:aws:iam::123456789012:role/automation"}},
		{"other IAM role", &events.APIGatewayProxyRequestContext{Identity: events.APIGatewayRequestIdentity{UserArn: "arn:aws:iam::123456789012:role/other"}}, nil},
		{"nothing", &events.APIGatewayProxyRequestContext{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/channels", nil)
			if tc.rc != nil {
				var err error
				r, err = (&core.RequestAccessor{}).EventToRequestWithContext(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/api/v1/channels", RequestContext: *tc.rc})
				require.NoError(t, err)
			}
			c, err := id(r)
			if tc.want == nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, *tc.want, c)
		})
	}

	// Through the engine: an identity admits, its absence is a 401, and a
	// bearer token still works beside it.
	e := newEnv(t, func(c *Config) { c.Identity = id })
	require.Equal(t, 401, e.doAuth(t, "GET", "/api/v1/channels", "", "").status)
	req, err := (&core.RequestAccessor{}).EventToRequestWithContext(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/api/v1/channels", RequestContext: claims(good)})
	require.NoError(t, err)
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	require.Equal(t, 200, w.Code, w.Body.String())
	req, _ = (&core.RequestAccessor{}).EventToRequestWithContext(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/api/v1/keys", Body: `{}`, RequestContext: claims(good)})
	w = httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	require.Equal(t, 201, w.Code, "console users manage keys: %s", w.Body.String())
	req, _ = (&core.RequestAccessor{}).EventToRequestWithContext(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/api/v1/keys", Body: `{}`, RequestContext: events.APIGatewayProxyRequestContext{Identity: events.APIGatewayRequestIdentity{APIKeyID: "k"}}})
	w = httptest.NewRecorder()
	e.handler.ServeHTTP(w, req)
	require.Equal(t, 403, w.Code, "API Gateway keys do not")
}
