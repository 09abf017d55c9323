package httpapi

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
)

// compatCurlBody is exactly the body of the users' example request (issue 4,
// point 2).
const compatCurlBody = `{"isFlv":true,"isHls":false,"isVideo":false,"isImage":false,"isMotion":false,"isOnDemand":false,"isCMAF":false,"video_time":"60","image_time":"30","hls_time":"2","hls_list_size":"5","outdate":"2030-12-09"}`

func TestCompatCreateExample(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "POST", "/videostream", compatCurlBody)
	require.Equal(t, 201, r.status, r.body)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &got))
	id, _ := got["id"].(string)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
	require.Equal(t, "/videostream/"+id, r.header.Get("Location"))

	// The record comes back flat, as sent, numbers as strings.
	for k, v := range map[string]any{
		"isFlv": true, "isHls": false, "isVideo": false, "isImage": false, "isMotion": false, "isOnDemand": false,
		"isCMAF": false, "video_time": "60", "image_time": "30", "hls_time": "2", "hls_list_size": "5", "outdate": "2030-12-09",
		"ld": false, "recordSize": "small", "codecSize": "large", "isRtmps": false, "logLevel": "warning",
	} {
		require.Equal(t, v, got[k], k)
	}
	// key is the push signature, and pushUrl a URL an encoder can use as is.
	key, _ := got["key"].(string)
	require.Regexp(t, `^\d+-[0-9a-f]{64}$`, key)
	require.Equal(t, "rtmp://live.example:1935/stream/"+id+"?sign="+key, got["pushUrl"])
	p, err := parsePushURL(got["pushUrl"].(string))
	require.NoError(t, err)
	require.NoError(t, e.signer.Verify(id, p.sign, testNow))
	require.Equal(t, "https://play.example/"+id+"/live.flv", got["flvUrl"])
	require.NotContains(t, got, "hlsUrl", "HLS is off")

	// The same channel through /api/v1.
	ch, err := e.store.GetChannel(context.Background(), id)
	require.NoError(t, err)
	require.True(t, ch.Enabled)
	require.True(t, ch.Outputs.FLVEnabled())
	require.False(t, ch.Outputs.HLSEnabled())
	require.Equal(t, 2, ch.Outputs.HLSSegmentSeconds)
	require.Equal(t, 5, ch.Outputs.HLSListSize)
	require.Equal(t, 60, ch.Recording.MP4SegmentSeconds)
	require.Equal(t, 30, ch.Recording.SnapshotSeconds)
	require.Equal(t, time.Date(2030, 12, 10, 0, 0, 0, 0, time.UTC), *ch.ExpiresAt, "valid through the outdate")
	exp, err := time.Parse(time.RFC3339, "2030-02-01T03:04:05Z")
	require.NoError(t, err)
	require.Equal(t, e.signer.Sign(id, exp), key, "push URL valid for the default TTL (before the outdate)")
}

func TestCompatFieldTypes(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "POST", "/videostream", `{
		"id":"compat-1","videoname":"Lobby","description":"d","outdate":"2031/1/5",
		"isFlv":"true","isHls":"TRUE","isCMAF":true,"hls_time":4,"hls_list_size":"10",
		"isVideo":"true","video_time":"120","isImage":"false","image_time":5,
		"isOnDemand":true,"ondemand_time":"30","ondemand_list_size":"4",
		"isMotion":"true","motion_duration":"6000","motion_percent":"40","motion_timeout":"30","motion_diff":"12",
		"isCodec":"true","codec":"libx265","ld":"true","sd":false,"hd":"true","ud":"false",
		"isWaterMark":"true","WaterMarkText":"LIVE","WaterMarkFontSize":"32","WaterMarkFontColor":"#ff0000","WaterMarkTop":"10","WaterMarkLeft":"20",
		"isRelay":"true","relayURL":"rtmp://a.rtmp.youtube.com/live2/KEY",
		"recordSize":"medium","codecSize":"xlarge","isCluster":"true","clusterNumber":"3","logLevel":"info",
		"somethingElse":"ignored"}`)
	require.Equal(t, 201, r.status, r.body)
	ch, err := e.store.GetChannel(context.Background(), "compat-1")
	require.NoError(t, err)
	want := channel.Channel{
		ID: "compat-1", Name: "Lobby", Description: "d", Enabled: true,
		Outputs:   channel.Outputs{FLV: ptr(true), HLS: ptr(true), CMAF: true, HLSSegmentSeconds: 4, HLSListSize: 10},
		Recording: channel.Recording{MP4: true, MP4SegmentSeconds: 120, HLSVOD: true, SnapshotSeconds: 5, Motion: channel.Motion{Enabled: true, DurationMillis: 6000, Percent: 40, TimeoutSeconds: 30, Diff: 12}},
		Transcode: channel.Transcode{Enabled: true, Codec: "libx265", Renditions: []string{"360p", "720p"}},
		Watermark: channel.Watermark{Text: &channel.TextWatermark{Text: "LIVE", FontSize: 32, Color: "#ff0000", Top: 10, Left: 20}},
		Relay:     []channel.Relay{{URL: "rtmp://a.rtmp.youtube.com/live2/KEY"}},
		CreatedAt: testNow, UpdatedAt: testNow,
	}
	exp := time.Date(2031, 1, 6, 0, 0, 0, 0, time.UTC)
	want.ExpiresAt = &exp
	require.JSONEq(t, mustJSON(t, want), mustJSON(t, ch))

	g := e.do(t, "GET", "/videostream/compat-1", "")
	require.Equal(t, 200, g.status)
	var flatGot map[string]any
	require.NoError(t, json.Unmarshal([]byte(g.body), &flatGot))
	for k, v := range map[string]any{"recordSize": "medium", "codecSize": "xlarge", "isCluster": true, "clusterNumber": "3",
		"logLevel": "info", "ondemand_time": "30", "ondemand_list_size": "4", "outdate": "2031-01-05", "ld": true, "hd": true, "ud": false,
		"WaterMarkText": "LIVE", "relayURL": "rtmp://a.rtmp.youtube.com/live2/KEY", "hls_time": "4"} {
		require.Equal(t, v, flatGot[k], k)
	}
	require.NotContains(t, flatGot, "somethingElse")

	// PUT changes only the given fields.
	u := e.do(t, "PUT", "/videostream/compat-1", `{"isHls":false,"video_time":"300","recordSize":"large"}`)
	require.Equal(t, 200, u.status, u.body)
	ch2, err := e.store.GetChannel(context.Background(), "compat-1")
	require.NoError(t, err)
	require.False(t, ch2.Outputs.HLSEnabled())
	require.Equal(t, 300, ch2.Recording.MP4SegmentSeconds)
	require.Equal(t, ch.Transcode, ch2.Transcode)
	require.Equal(t, ch.Watermark, ch2.Watermark)
	require.Equal(t, ch.Relay, ch2.Relay)
	require.Equal(t, *ch.ExpiresAt, *ch2.ExpiresAt)
	require.Contains(t, u.body, `"recordSize":"large"`)
	require.Contains(t, u.body, `"codecSize":"xlarge"`)

	// The list shows every channel, never a push key.
	l := e.do(t, "GET", "/videostream", "")
	require.Equal(t, 200, l.status)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(l.body), &list))
	require.Len(t, list, 1)
	for _, rec := range list {
		require.NotContains(t, rec, "key")
		require.NotContains(t, rec, "pushUrl")
	}
	require.NotContains(t, l.body, "sign=")

	require.Equal(t, 204, e.do(t, "DELETE", "/videostream/compat-1", "").status)
	require.Equal(t, 404, e.do(t, "GET", "/videostream/compat-1", "").status)
}

func TestCompatRejects(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ body, code, msg string }{
		{`{"isFlv":"yes"}`, "invalid_field", `isFlv: must be true or false (a boolean or the string "true"/"false")`},
		{`{"hls_time":"2.5"}`, "invalid_field", "hls_time: must be a whole number 1-30"},
		{`{"hls_time":"0"}`, "invalid_field", "hls_time: must be a whole number 1-30"},
		{`{"video_time":[]}`, "invalid_field", "video_time: must be a number or a numeric string"},
		{`{"outdate":"9 Dec"}`, "invalid_field", "outdate: must be a date YYYY-MM-DD"},
		{`{"codec":"vp9"}`, "invalid_field", `transcode.codec: must be libx264 or libx265, got "vp9"`},
		{`{"isRelay":true,"relayURL":"http://example.com/x"}`, "invalid_field", `relay[0].url: scheme must be rtmp or rtmps, got "http"`},
		{`{"recordSize":"huge"}`, "invalid_field", "recordSize: must be micro, small, medium, large or xlarge"},
		{`{"id":"../etc"}`, "invalid_field", "id: must be 1-64 letters, digits, '-' or '_'"},
		{`[]`, "invalid_field", "body: must be a JSON object"},
		{`null`, "invalid_field", "body: must be a JSON object"},
		{`{"a":1}}`, "bad_json", "invalid JSON: trailing data after the object"},
		{``, "bad_json", "invalid JSON: empty body"},
	} {
		r := e.do(t, "POST", "/videostream", tc.body)
		require.Equal(t, 400, r.status, "%s: %s", tc.body, r.body)
		require.JSONEq(t, errJSON(tc.code, tc.msg), r.body, tc.body)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPushURLIsUsable: the compat push URL parses as an encoder would split it.
func TestCompatPushURLSplits(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "POST", "/videostream", compatCurlBody)
	require.Equal(t, 201, r.status)
	var got struct{ ID, Key, PushURL string }
	require.NoError(t, json.Unmarshal([]byte(strings.Replace(r.body, `"pushUrl"`, `"pushURL"`, 1)), &got))
	u, err := url.Parse(got.PushURL)
	require.NoError(t, err)
	require.Equal(t, "/stream/"+got.ID, u.Path)
	require.Equal(t, got.Key, u.Query().Get("sign"))
}
