package playauth

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
)

var errNoChannel = errors.New("no such channel")

func TestAuthorizer(t *testing.T) {
	s, v := newPair(t)
	v.Bases = func() []string { return []string{"https://play.example"} }
	lookups := 0
	fail := false
	a := &Authorizer{
		Verifier: v,
		Lookup: func(_ context.Context, id string) (*channel.Channel, error) {
			lookups++
			if fail {
				return nil, errors.New("store down")
			}
			switch id {
			case "vip":
				return &channel.Channel{ID: id, PlayAuth: true}, nil
			case "open":
				return &channel.Channel{ID: id}, nil
			}
			return nil, errNoChannel
		},
		NotFound: func(err error) bool { return errors.Is(err, errNoChannel) },
		CacheTTL: time.Hour,
	}
	signed, err := s.Sign("https://play.example/vip/live.flv", testNow.Add(time.Hour))
	require.NoError(t, err)
	su, _ := url.Parse(signed)
	for _, tc := range []struct {
		name, target, id string
		wantErr          error
	}{
		{"open channel, no signature", "http://origin/open/live.flv", "open", nil},
		{"unknown channel passes (nothing to play)", "http://origin/nope/live.flv", "nope", nil},
		{"signed channel, no signature", "http://origin/vip/live.flv", "vip", ErrUnsigned},
		{"signed channel, signed for the play domain", "http://origin" + su.RequestURI(), "vip", nil},
		{"signed channel, tampered", "http://origin" + strings.Replace(su.RequestURI(), "Expires=", "Expires=1", 1), "vip", ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Authorize(httptest.NewRequest("GET", tc.target, nil), tc.id)
			if tc.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.wantErr)
			}
		})
	}
	n := lookups
	require.NoError(t, a.Authorize(httptest.NewRequest("GET", "http://origin/open/live.flv", nil), "open"))
	require.Equal(t, n, lookups, "the playAuth setting is cached")

	// A store failure refuses signed-only and unknown channels alike (fail closed).
	fail = true
	a.CacheTTL = time.Nanosecond
	require.Error(t, a.Authorize(httptest.NewRequest("GET", "http://origin/open/live.flv", nil), "open"))
}
