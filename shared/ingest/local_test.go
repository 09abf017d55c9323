package ingest

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/signing"
	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/boltstore"
)

func testKey() []byte { return bytes.Repeat([]byte{0x42}, signing.MinKeySize) }

// localEnv is a Local over a real bbolt store. The store decides lease expiry
// on the wall clock, so the Local's clock starts at the wall clock too.
type localEnv struct {
	st     *boltstore.Store
	signer *signing.Signer
	local  *Local
	now    time.Time
}

func newLocalEnv(t *testing.T) *localEnv {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "ingest.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	signer, err := signing.New(testKey())
	require.NoError(t, err)
	e := &localEnv{st: st, signer: signer, now: time.Now().Truncate(time.Second)}
	e.local = &Local{Store: st, Signer: signer, Now: func() time.Time { return e.now }}

	hourAgo, inHour := e.now.Add(-time.Hour), e.now.Add(time.Hour)
	for _, c := range []*channel.Channel{
		{ID: "cam", Name: "Cam", Enabled: true},
		{ID: "off", Enabled: false},
		{ID: "old", Enabled: true, ExpiresAt: &hourAgo},
		{ID: "later", Enabled: true, ExpiresAt: &inHour},
	} {
		require.NoError(t, st.CreateChannel(context.Background(), c))
	}
	return e
}

// sign returns a sign value for id valid for an hour.
func (e *localEnv) sign(id string) string { return e.signer.Sign(id, e.now.Add(time.Hour)) }

func pubReq(id, sign, session string) PublishRequest {
	return PublishRequest{
		ChannelID: id, Sign: sign, App: "stream", RemoteAddr: "192.0.2.7:50000",
		Gateway: "10.0.3.7:8080", Region: "eu-west-1", SessionID: session,
	}
}

func normalized(c channel.Channel) *channel.Channel {
	c.Normalize()
	return &c
}

func TestLocalAuthorizePublishRefusals(t *testing.T) {
	e := newLocalEnv(t)
	other, err := signing.New(bytes.Repeat([]byte{0x43}, signing.MinKeySize))
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		id     string
		sign   string
		reason string
		detail string
	}{
		{name: "invalid channel id", id: "../cam", sign: e.sign("../cam"), reason: ReasonInvalidChannel, detail: `"../cam"`},
		{name: "empty channel id", id: "", sign: e.sign(""), reason: ReasonInvalidChannel, detail: `""`},
		{name: "unsigned", id: "cam", sign: "", reason: ReasonUnsigned},
		{name: "malformed", id: "cam", sign: "tomorrow-please", reason: ReasonMalformed},
		{name: "malformed hex", id: "cam", sign: "4102444800-xyz", reason: ReasonMalformed},
		{name: "expired signature", id: "cam", sign: e.signer.Sign("cam", e.now), reason: ReasonSignExpired},
		{name: "signature of another channel", id: "cam", sign: e.sign("cams"), reason: ReasonBadSignature},
		{name: "signature of another key", id: "cam", sign: other.Sign("cam", e.now.Add(time.Hour)), reason: ReasonBadSignature},
		{name: "expired signature of another key", id: "cam", sign: other.Sign("cam", e.now.Add(-time.Hour)), reason: ReasonBadSignature},
		{name: "unknown channel", id: "ghost", sign: e.sign("ghost"), reason: ReasonUnknownChannel, detail: "ghost"},
		{name: "unknown channel, bad signature", id: "ghost", sign: e.sign("cam"), reason: ReasonBadSignature},
		{name: "disabled channel", id: "off", sign: e.sign("off"), reason: ReasonDisabled},
		{name: "expired channel", id: "old", sign: e.sign("old"), reason: ReasonChannelExpired, detail: e.now.Add(-time.Hour).Format(time.RFC3339)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := e.local.AuthorizePublish(context.Background(), pubReq(tc.id, tc.sign, "s1"))
			require.Equal(t, Grant{}, g)
			require.ErrorIs(t, err, ErrRefused)
			require.Equal(t, tc.reason, ReasonOf(err))
			var r *Refusal
			require.ErrorAs(t, err, &r)
			if tc.detail != "" {
				require.Equal(t, tc.detail, r.Detail)
			}
			_, err = e.st.GetSession(context.Background(), tc.id)
			require.ErrorIs(t, err, store.ErrNotFound, "a refused publish takes no session")
		})
	}
}

func TestLocalAuthorizePublishGrants(t *testing.T) {
	e := newLocalEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		id    string
		lease time.Duration
		want  time.Duration
	}{
		{"default lease", "cam", 0, DefaultLease},
		{"own lease", "later", 90 * time.Second, 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.local.Lease = tc.lease
			g, err := e.local.AuthorizePublish(ctx, pubReq(tc.id, e.sign(tc.id), "s-"+tc.id))
			require.NoError(t, err)
			stored, err := e.st.GetChannel(ctx, tc.id)
			require.NoError(t, err)
			require.Equal(t, normalized(*stored), g.Channel, "the grant carries the normalized channel")
			require.Equal(t, e.now.Add(tc.want), g.LeaseUntil)

			sess, err := e.st.GetSession(ctx, tc.id)
			require.NoError(t, err)
			require.Equal(t, "s-"+tc.id, sess.SessionID)
			require.Equal(t, "10.0.3.7:8080", sess.Gateway)
			require.Equal(t, "eu-west-1", sess.Region)
			require.True(t, e.now.Equal(sess.StartedAt))
			require.True(t, g.LeaseUntil.Equal(sess.ExpiresAt))
		})
	}
}

func TestLocalAlreadyLive(t *testing.T) {
	e := newLocalEnv(t)
	ctx := context.Background()
	_, err := e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s1"))
	require.NoError(t, err)

	// A second session (another encoder, or the same one reconnecting on a new
	// connection before its lease ran out) is refused.
	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s2"))
	require.ErrorIs(t, err, ErrRefused)
	require.Equal(t, ReasonAlreadyLive, ReasonOf(err))

	// The same session asking again keeps its place.
	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s1"))
	require.NoError(t, err)
	sess, err := e.st.GetSession(ctx, "cam")
	require.NoError(t, err)
	require.Equal(t, "s1", sess.SessionID)

	// Other channels are not affected.
	_, err = e.local.AuthorizePublish(ctx, pubReq("later", e.sign("later"), "s2"))
	require.NoError(t, err)
}

func TestLocalRenew(t *testing.T) {
	e := newLocalEnv(t)
	ctx := context.Background()
	start := e.now
	req := pubReq("cam", e.sign("cam"), "s1")
	g, err := e.local.AuthorizePublish(ctx, req)
	require.NoError(t, err)
	require.Equal(t, start.Add(DefaultLease), g.LeaseUntil)

	// Renewing extends the lease and keeps the start time; the sign value is not
	// checked again (it may expire during a long broadcast).
	e.now = start.Add(20 * time.Second)
	req.Sign = ""
	g, err = e.local.Renew(ctx, req)
	require.NoError(t, err)
	require.Equal(t, e.now.Add(DefaultLease), g.LeaseUntil)
	require.Equal(t, "cam", g.Channel.ID)
	require.Equal(t, channel.DefaultHLSListSize, g.Channel.Outputs.HLSListSize, "normalized")
	sess, err := e.st.GetSession(ctx, "cam")
	require.NoError(t, err)
	require.True(t, start.Equal(sess.StartedAt), "started %s", sess.StartedAt)
	require.True(t, g.LeaseUntil.Equal(sess.ExpiresAt))

	// The channel is disabled while live: the next renewal is refused.
	ch, err := e.st.GetChannel(ctx, "cam")
	require.NoError(t, err)
	ch.Enabled = false
	require.NoError(t, e.st.UpdateChannel(ctx, ch))
	e.now = start.Add(30 * time.Second)
	_, err = e.local.Renew(ctx, req)
	require.ErrorIs(t, err, ErrRefused)
	require.Equal(t, ReasonDisabled, ReasonOf(err))

	// Expired and deleted channels are refused too.
	ch.Enabled = true
	past := e.now.Add(-time.Second)
	ch.ExpiresAt = &past
	require.NoError(t, e.st.UpdateChannel(ctx, ch))
	_, err = e.local.Renew(ctx, req)
	require.Equal(t, ReasonChannelExpired, ReasonOf(err))

	require.NoError(t, e.st.DeleteChannel(ctx, "cam"))
	_, err = e.local.Renew(ctx, req)
	require.Equal(t, ReasonUnknownChannel, ReasonOf(err))
}

func TestLocalRenewAfterTakeover(t *testing.T) {
	e := newLocalEnv(t)
	ctx := context.Background()
	wall := e.now
	// s1's lease ran out an hour ago (the store judges leases on the wall clock).
	e.now = wall.Add(-time.Hour)
	_, err := e.local.AuthorizePublish(ctx, pubReq("cam", e.signer.Sign("cam", wall.Add(time.Hour)), "s1"))
	require.NoError(t, err)
	e.now = wall
	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s2"))
	require.NoError(t, err, "a lapsed session does not block a new one")

	_, err = e.local.Renew(ctx, pubReq("cam", "", "s1"))
	require.ErrorIs(t, err, ErrRefused)
	require.Equal(t, ReasonAlreadyLive, ReasonOf(err))
	require.Equal(t, "publish refused: already_live (session taken over)", err.Error())

	// s2 renews; its start time is kept.
	e.now = wall.Add(5 * time.Second)
	_, err = e.local.Renew(ctx, pubReq("cam", "", "s2"))
	require.NoError(t, err)
	sess, err := e.st.GetSession(ctx, "cam")
	require.NoError(t, err)
	require.Equal(t, "s2", sess.SessionID)
	require.True(t, wall.Equal(sess.StartedAt))
}

func TestLocalUnpublish(t *testing.T) {
	e := newLocalEnv(t)
	ctx := context.Background()
	_, err := e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s1"))
	require.NoError(t, err)
	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s2"))
	require.Equal(t, ReasonAlreadyLive, ReasonOf(err))

	// Another session's unpublish releases nothing.
	require.NoError(t, e.local.Unpublish(ctx, pubReq("cam", "", "s2")))
	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s2"))
	require.Equal(t, ReasonAlreadyLive, ReasonOf(err))

	require.NoError(t, e.local.Unpublish(ctx, pubReq("cam", "", "s1")))
	_, err = e.st.GetSession(ctx, "cam")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s2"))
	require.NoError(t, err, "a released channel can be published again")

	// Unpublishing twice, or a channel never published, is fine.
	require.NoError(t, e.local.Unpublish(ctx, pubReq("cam", "", "s1")))
	require.NoError(t, e.local.Unpublish(ctx, pubReq("later", "", "s9")))
	require.NoError(t, e.local.Unpublish(ctx, pubReq("", "", "s9")))
}

func TestLocalStoreFailuresAreNotRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(e *localEnv) error
	}{
		{"publish on a closed store", func(e *localEnv) error {
			require.NoError(t, e.st.Close())
			_, err := e.local.AuthorizePublish(context.Background(), pubReq("cam", e.sign("cam"), "s1"))
			return err
		}},
		{"renew on a closed store", func(e *localEnv) error {
			require.NoError(t, e.st.Close())
			_, err := e.local.Renew(context.Background(), pubReq("cam", "", "s1"))
			return err
		}},
		{"unpublish on a closed store", func(e *localEnv) error {
			require.NoError(t, e.st.Close())
			return e.local.Unpublish(context.Background(), pubReq("cam", "", "s1"))
		}},
		{"publish with a cancelled context", func(e *localEnv) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := e.local.AuthorizePublish(ctx, pubReq("cam", e.sign("cam"), "s1"))
			require.ErrorIs(t, err, context.Canceled)
			return err
		}},
		{"session the store cannot keep (no gateway)", func(e *localEnv) error {
			req := pubReq("cam", e.sign("cam"), "s1")
			req.Gateway = ""
			_, err := e.local.AuthorizePublish(context.Background(), req)
			require.ErrorIs(t, err, store.ErrInvalid)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(newLocalEnv(t))
			require.Error(t, err)
			require.False(t, errors.Is(err, ErrRefused), "%v", err)
			require.Empty(t, ReasonOf(err))
		})
	}
}

func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		reason string
		text   string
	}{
		{"with detail", Refuse(ReasonDisabled, "by admin"), ReasonDisabled, "publish refused: channel_disabled (by admin)"},
		{"without detail", Refuse(ReasonUnsigned, ""), ReasonUnsigned, "publish refused: unsigned"},
		{"wrapped", errors.Join(errors.New("rtmp"), Refuse(ReasonAlreadyLive, "")), ReasonAlreadyLive, "rtmp\npublish refused: already_live"},
		{"not a refusal", errors.New("boom"), "", "boom"},
		{"nil", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.reason, ReasonOf(tc.err))
			require.Equal(t, tc.reason != "", errors.Is(tc.err, ErrRefused))
			if tc.err != nil {
				require.Equal(t, tc.text, tc.err.Error())
			}
		})
	}
}
