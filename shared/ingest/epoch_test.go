package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPushKeyEpoch: after a channel's push key is rotated (its epoch bumped),
// URLs signed before are refused and URLs of the new epoch are accepted;
// other channels keep working.
func TestPushKeyEpoch(t *testing.T) {
	e := newLocalEnv(t)
	ctx := context.Background()
	old := e.sign("cam")
	ch, err := e.st.GetChannel(ctx, "cam")
	require.NoError(t, err)
	ch.PushKeyEpoch = 3
	require.NoError(t, e.st.UpdateChannel(ctx, ch))

	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", old, "s1"))
	require.Equal(t, ReasonBadSignature, ReasonOf(err))
	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", e.signer.ForEpoch(2).Sign("cam", e.now.Add(time.Hour)), "s1"))
	require.Equal(t, ReasonBadSignature, ReasonOf(err))
	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", e.signer.ForEpoch(3).Sign("cam", e.now.Add(-time.Second)), "s1"))
	require.Equal(t, ReasonSignExpired, ReasonOf(err))
	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", "", "s1"))
	require.Equal(t, ReasonUnsigned, ReasonOf(err))

	g, err := e.local.AuthorizePublish(ctx, pubReq("cam", e.signer.ForEpoch(3).Sign("cam", e.now.Add(time.Hour)), "s1"))
	require.NoError(t, err)
	require.Equal(t, "cam", g.Channel.ID)

	_, err = e.local.AuthorizePublish(ctx, pubReq("later", e.sign("later"), "s2"))
	require.NoError(t, err, "an epoch-0 channel keeps the platform key")
	_, err = e.local.AuthorizePublish(ctx, pubReq("nope", e.signer.ForEpoch(3).Sign("nope", e.now.Add(time.Hour)), "s3"))
	require.Equal(t, ReasonBadSignature, ReasonOf(err), "an unknown channel is refused on its signature first")
}
