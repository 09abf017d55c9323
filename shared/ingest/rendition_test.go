package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/store"
)

func TestSplitRendition(t *testing.T) {
	for _, tc := range []struct {
		name, id, rend string
		ok             bool
	}{
		{"cam/720p", "cam", "720p", true},
		{"cam/360p", "cam", "360p", true},
		{"cam/1080p", "cam", "1080p", true},
		{"cam/original", "cam", "original", true},
		{"cam", "", "", false},
		{"cam/", "", "", false},
		{"cam/240p", "", "", false},
		{"cam/720p/x", "", "", false},
		{"../cam/720p", "", "", false},
		{"/720p", "", "", false},
		{"cam/source", "", "", false},
	} {
		id, rend, ok := SplitRendition(tc.name)
		require.Equal(t, tc.ok, ok, tc.name)
		require.Equal(t, tc.id, id, tc.name)
		require.Equal(t, tc.rend, rend, tc.name)
		require.Equal(t, tc.ok || tc.name == "cam", ValidPublishName(tc.name), tc.name)
	}
}

func TestLocalRenditionPublish(t *testing.T) {
	e := newLocalEnv(t)
	ctx := context.Background()

	// While the channel is offline, its renditions are refused.
	_, err := e.local.AuthorizePublish(ctx, pubReq("cam/720p", e.sign("cam/720p"), "w1"))
	require.Equal(t, ReasonSourceOffline, ReasonOf(err))

	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s1"))
	require.NoError(t, err)

	for _, tc := range []struct {
		name, id, sign, reason string
	}{
		{"unsigned", "cam/720p", "", ReasonUnsigned},
		{"signed for the channel, not the rendition", "cam/720p", e.sign("cam"), ReasonBadSignature},
		{"signed for another rendition", "cam/720p", e.sign("cam/360p"), ReasonBadSignature},
		{"expired", "cam/720p", e.signer.Sign("cam/720p", e.now.Add(-time.Second)), ReasonSignExpired},
		{"unknown rendition", "cam/240p", e.sign("cam/240p"), ReasonInvalidChannel},
		{"disabled channel", "off/720p", e.sign("off/720p"), ReasonDisabled},
		{"unknown channel", "ghost/720p", e.sign("ghost/720p"), ReasonUnknownChannel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.local.AuthorizePublish(ctx, pubReq(tc.id, tc.sign, "w1"))
			require.ErrorIs(t, err, ErrRefused)
			require.Equal(t, tc.reason, ReasonOf(err))
		})
	}

	// Granted, more than once (a restarted worker), without touching the
	// channel's session.
	for _, sess := range []string{"w1", "w2"} {
		g, err := e.local.AuthorizePublish(ctx, pubReq("cam/720p", e.sign("cam/720p"), sess))
		require.NoError(t, err)
		require.Equal(t, "720p", g.Rendition)
		require.Equal(t, "cam", g.Channel.ID)
	}
	s, err := e.st.GetSession(ctx, "cam")
	require.NoError(t, err)
	require.Equal(t, "s1", s.SessionID)

	g, err := e.local.Renew(ctx, pubReq("cam/720p", "", "w2"))
	require.NoError(t, err)
	require.Equal(t, "720p", g.Rendition)
	require.NoError(t, e.local.Unpublish(ctx, pubReq("cam/720p", "", "w2")))
	_, err = e.st.GetSession(ctx, "cam")
	require.NoError(t, err, "a rendition's unpublish leaves the channel's session alone")

	// Once the channel's own publish ends, renewals of its renditions are refused.
	require.NoError(t, e.local.Unpublish(ctx, pubReq("cam", "", "s1")))
	_, err = e.local.Renew(ctx, pubReq("cam/720p", "", "w2"))
	require.Equal(t, ReasonSourceOffline, ReasonOf(err))
	_, err = e.st.GetSession(ctx, "cam/720p")
	require.ErrorIs(t, err, store.ErrNotFound)
}
