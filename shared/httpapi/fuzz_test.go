package httpapi

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzCreateChannel posts arbitrary bodies to POST /api/v1/channels. The API
// must never panic or answer 5xx; every answer is JSON; a 201 returns a valid,
// normalized channel that reads back the same, and any other answer is a
// {"error":{"code","message"}}.
func FuzzCreateChannel(f *testing.F) {
	for _, tc := range rejectCases {
		f.Add([]byte(tc.body))
	}
	for _, body := range []string{
		`{"id":"demo-1","name":"Demo"}`,
		`{}`,
		`{"id":"off","enabled":false,"expiresAt":"2031-06-01T12:00:00+02:00"}`,
		`{"outputs":{"flv":false,"hls":true,"cmaf":true,"hlsSegmentSeconds":4,"hlsListSize":10}}`,
		`{"recording":{"mp4":true,"mp4SegmentSeconds":600,"motion":{"enabled":true,"percent":100,"diff":255}}}`,
		`{"transcode":{"enabled":true,"codec":"libx265","renditions":["360p","1080p"]}}`,
		`{"watermark":{"text":{"text":"x","fontSize":24,"color":"#ffffff80"},"image":{"url":"blob:logo.png"}}}`,
		`{"relay":[{"url":"rtmps://live.twitch.tv:443/app/key"}],"playAuth":true,"delivery":{"mergeWindowMillis":0}}`,
	} {
		f.Add([]byte(body))
	}
	e := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := e.serve("POST", "/api/v1/channels", body)
		require.Less(t, w.Code, 500, "%s -> %s", body, w.Body)
		require.Contains(t, w.Header().Get("Content-Type"), "application/json")
		if w.Code != 201 {
			var eb struct {
				Error *struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb), "%s", w.Body)
			require.NotNil(t, eb.Error)
			require.NotEmpty(t, eb.Error.Code)
			require.NotEmpty(t, eb.Error.Message)
			requireNoGoNames(t, eb.Error.Message)
			return
		}
		var c channelInput
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &c))
		ch := c.Channel
		ch.Enabled = c.Enabled != nil && *c.Enabled
		require.NoError(t, ch.Validate())
		g := e.serve("GET", "/api/v1/channels/"+ch.ID, nil)
		require.Equal(t, 200, g.Code)
		require.JSONEq(t, w.Body.String(), g.Body.String(), "a created channel reads back as answered")
		u := e.serve("GET", "/api/v1/channels/"+ch.ID+"/urls", nil)
		require.Equal(t, 200, u.Code, "%s", u.Body)
	})
}

// requireNoGoNames fails when an error message shows Go types or packages.
func requireNoGoNames(t testing.TB, msg string) {
	t.Helper()
	for _, leak := range []string{"Go ", "json:", "httpapi.", "channel.", "store.", "struct", "int64", "*channel", "*store"} {
		require.NotContains(t, msg, leak, "error message leaks an implementation name: %q", msg)
	}
}

// FuzzCompatCreate posts arbitrary flat records to POST /videostream: never a
// 5xx, errors name no Go type, and a 201 stores a valid channel whose push URL
// verifies.
func FuzzCompatCreate(f *testing.F) {
	f.Add([]byte(compatCurlBody))
	for _, body := range []string{
		`{}`, `{"isFlv":"true","hls_time":4}`, `{"isFlv":"yes"}`, `{"hls_time":"2.5"}`, `{"outdate":"2031/1/5"}`,
		`{"isCodec":"true","ld":"1","ud":true,"codec":"libx265"}`, `{"isWaterMark":true,"WaterMarkText":"x';drawtext"}`,
		`{"isRelay":"true","relayURL":"rtmp://a/b/c"}`, `{"id":"x","recordSize":"micro","clusterNumber":"1e2"}`, `[]`, `null`, `{"a":1}}`,
	} {
		f.Add([]byte(body))
	}
	e := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := e.serve("POST", "/videostream", body)
		require.Less(t, w.Code, 500, "%s -> %s", body, w.Body)
		if w.Code == 409 {
			return // a fuzzed id taken by an earlier input
		}
		if w.Code != 201 {
			var eb errorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb), "%s", w.Body)
			require.NotEmpty(t, eb.Error.Code)
			requireNoGoNames(t, eb.Error.Message)
			return
		}
		var got struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		ch, err := e.store.GetChannel(t.Context(), got.ID)
		require.NoError(t, err)
		require.NoError(t, ch.Validate())
		require.NoError(t, e.signer.Verify(got.ID, got.Key, testNow))
	})
}

// FuzzListCursor sends arbitrary cursors and limits to the paginated lists:
// a 200 or a 400 naming the field, never a 5xx.
func FuzzListCursor(f *testing.F) {
	e := newEnv(f, nil)
	for i := range 3 {
		w := e.serve("POST", "/api/v1/channels", []byte(`{"id":"c`+string(rune('0'+i))+`"}`))
		require.Equal(f, 201, w.Code)
	}
	var page struct{ Next string }
	w := e.serve("GET", "/api/v1/channels?limit=1", nil)
	require.NoError(f, json.Unmarshal(w.Body.Bytes(), &page))
	f.Add(page.Next, "1")
	f.Add("", "")
	f.Add("garbage", "0")
	f.Add("eyJ9", "1000")
	f.Fuzz(func(t *testing.T, cursor, limit string) {
		for _, path := range []string{"/api/v1/channels", "/api/v1/recordings"} {
			q := url.Values{"cursor": {cursor}, "limit": {limit}}
			w := e.serve("GET", path+"?"+q.Encode(), nil)
			require.Contains(t, []int{200, 400}, w.Code, "%s %q %q -> %s", path, cursor, limit, w.Body)
			if w.Code == 400 {
				var eb errorBody
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &eb))
				require.Equal(t, "invalid_field", eb.Error.Code)
				requireNoGoNames(t, eb.Error.Message)
			}
		}
	})
}
