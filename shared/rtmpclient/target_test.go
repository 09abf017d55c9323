package rtmpclient

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want Target
	}{
		{"rtmp://a.rtmp.youtube.com/live2/KEY", Target{
			Scheme: "rtmp", Addr: "a.rtmp.youtube.com:1935", Host: "a.rtmp.youtube.com", App: "live2", Name: "KEY",
			TCURL: "rtmp://a.rtmp.youtube.com/live2", Redacted: "rtmp://a.rtmp.youtube.com/live2/***",
		}},
		{"rtmp://host:1935/stream/ch?sign=x", Target{
			Scheme: "rtmp", Addr: "host:1935", Host: "host", App: "stream", Name: "ch?sign=x",
			TCURL: "rtmp://host:1935/stream", Redacted: "rtmp://host:1935/stream/***",
		}},
		{"rtmps://live-api-s.facebook.com/rtmp/FB-123?s_bl=1&a=b", Target{
			Scheme: "rtmps", Addr: "live-api-s.facebook.com:443", Host: "live-api-s.facebook.com", App: "rtmp", Name: "FB-123?s_bl=1&a=b",
			TCURL: "rtmps://live-api-s.facebook.com/rtmp", Redacted: "rtmps://live-api-s.facebook.com/rtmp/***",
		}},
		{"rtmps://host:8443/app/inst/key", Target{ // the app is the first segment only
			Scheme: "rtmps", Addr: "host:8443", Host: "host", App: "app", Name: "inst/key",
			TCURL: "rtmps://host:8443/app", Redacted: "rtmps://host:8443/app/***",
		}},
		{"RTMP://user:pw@[::1]/live/k", Target{ // user info is dropped everywhere
			Scheme: "rtmp", Addr: "[::1]:1935", Host: "::1", App: "live", Name: "k",
			TCURL: "rtmp://[::1]/live", Redacted: "rtmp://[::1]/live/***",
		}},
		{"  rtmp://h/live/k  ", Target{
			Scheme: "rtmp", Addr: "h:1935", Host: "h", App: "live", Name: "k",
			TCURL: "rtmp://h/live", Redacted: "rtmp://h/live/***",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseURL(tt.url)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.want.Redacted, Redact(tt.url))
		})
	}
}

func TestParseURLInvalid(t *testing.T) {
	tests := []struct {
		url      string
		contains string
		redacted string
	}{
		{"", "scheme", "***"},
		{"http://host/app/key", "scheme", "http://host/app/***"},
		{"rtmp:///app/key", "no host", "***"},
		{"rtmp://host", "path", "rtmp://host/***"},
		{"rtmp://host/app", "path", "rtmp://host/app/***"},
		{"rtmp://host/app/", "path", "rtmp://host/app/***"},
		{"rtmp://host//key", "path", "rtmp://host/***"},
		{"rtmp://host:99999/app/key", "port", "rtmp://host:99999/app/***"},
		{"rtmp://host:0/app/key", "port", "rtmp://host:0/app/***"},
		{"rtmp://ho st/app/secret", "parse", "***"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := ParseURL(tt.url)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalidURL))
			require.Contains(t, err.Error(), tt.contains)
			require.NotContains(t, err.Error(), "secret")
			require.NotContains(t, err.Error(), "key")
			require.Equal(t, tt.redacted, Redact(tt.url))
		})
	}
}

func TestScrub(t *testing.T) {
	tests := []struct {
		url, in, want string
	}{
		{"rtmp://h/live2/abcd-efgh-ijkl", "stream abcd-efgh-ijkl is not allowed", "stream *** is not allowed"},
		{"rtmp://h/stream/ch?sign=123-abcdef", "bad name ch?sign=123-abcdef", "bad name ***"},
		{"rtmp://h/stream/ch?sign=123-abcdef", "signature sign=123-abcdef expired", "signature *** expired"},
		{"rtmp://h/stream/ch?sign=123-abcdef", "channel ch unknown", "channel ch unknown"}, // short names are left alone
	}
	for _, tt := range tests {
		tg, err := ParseURL(tt.url)
		require.NoError(t, err)
		require.Equal(t, tt.want, tg.Scrub(tt.in))
	}
}

// FuzzParseURL: ParseURL and Redact never panic, a parsed URL is consistent
// with its redacted form, and Redact never keeps what follows the app.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"rtmp://a.rtmp.youtube.com/live2/KEY", "rtmp://host:1935/stream/ch?sign=x",
		"rtmps://live-api-s.facebook.com/rtmp/FB-123?s_bl=1&a=b", "rtmps://host:8443/app/inst/key",
		"RTMP://user:pw@[::1]/live/k", "  rtmp://h/live/k  ", "", "http://host/app/key", "rtmp:///app/key",
		"rtmp://host", "rtmp://host/app/", "rtmp://host//key", "rtmp://host:99999/app/key", "rtmp://ho st/app/secret",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		red := Redact(raw)
		require.True(t, strings.HasSuffix(red, "***"), red)
		tg, err := ParseURL(raw)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidURL)
			return
		}
		require.Equal(t, tg.Redacted, red)
		require.Equal(t, tg.TCURL+"/***", tg.Redacted)
		require.NotEmpty(t, tg.App)
		require.NotEmpty(t, tg.Name)
		_, _, err = net.SplitHostPort(tg.Addr)
		require.NoError(t, err)
	})
}
