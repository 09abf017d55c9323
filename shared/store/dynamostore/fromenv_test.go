package dynamostore

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
)

// isolateAWS keeps the developer's AWS configuration out of the test.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestFromEnv(t *testing.T) {
	isolateAWS(t)
	_, table := newTable(t)

	t.Setenv(EnvTable, "")
	t.Setenv(EnvRegion, "eu-west-1")
	_, err := FromEnv(t.Context())
	require.ErrorContains(t, err, EnvTable)

	t.Setenv(EnvTable, table)
	t.Setenv(EnvRegion, "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	_, err = FromEnv(t.Context())
	require.ErrorContains(t, err, EnvRegion)

	// With an emulator endpoint and no credentials, dummy ones are used.
	t.Setenv(EnvRegion, "eu-west-1")
	t.Setenv(EnvEndpoint, needDynalite(t))
	s, err := FromEnv(t.Context())
	require.NoError(t, err)
	require.Equal(t, table, s.Table())
	require.NoError(t, s.CreateChannel(t.Context(), &channel.Channel{ID: "env"}))
	got, err := s.GetChannel(t.Context(), "env")
	require.NoError(t, err)
	require.Equal(t, "env", got.ID)
	require.NoError(t, s.Close())
	_, err = s.GetChannel(t.Context(), "env")
	require.ErrorIs(t, err, ErrClosed)
}

func TestNewRefuses(t *testing.T) {
	_, err := New(t.Context(), Config{Table: "t"})
	require.Error(t, err)
	_, err = New(t.Context(), Config{Client: newClient("http://127.0.0.1:1")})
	require.Error(t, err)
}
