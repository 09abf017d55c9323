package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunConfigErrors(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no channel", map[string]string{"LIVESTACK_GATEWAY": "10.0.0.1:8080"}, "LIVESTACK_CHANNEL_ID and LIVESTACK_GATEWAY are required"},
		{"no gateway", map[string]string{"LIVESTACK_CHANNEL_ID": "demo"}, "are required"},
		{"bad gateway", map[string]string{"LIVESTACK_CHANNEL_ID": "demo", "LIVESTACK_GATEWAY": "nohostport"}, "LIVESTACK_GATEWAY"},
		{"no key", map[string]string{"LIVESTACK_CHANNEL_ID": "demo", "LIVESTACK_GATEWAY": "10.0.0.1:8080"}, "LIVESTACK_PUSH_KEY or LIVESTACK_PUSH_KEY_SECRET is required"},
		{"short key", map[string]string{"LIVESTACK_CHANNEL_ID": "demo", "LIVESTACK_GATEWAY": "10.0.0.1:8080", "LIVESTACK_PUSH_KEY": "abcd"}, "LIVESTACK_PUSH_KEY"},
		{"no table", map[string]string{"LIVESTACK_CHANNEL_ID": "demo", "LIVESTACK_GATEWAY": "10.0.0.1:8080", "LIVESTACK_PUSH_KEY": key}, "LIVESTACK_TABLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), func(k string) string { return tc.env[k] }, log)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), key, "the key never appears in errors")
		})
	}
}

// TestStillsBlob: the assets bucket comes from LIVESTACK_BUCKET (the
// gateway's variable, set by the task definition); without it the worker
// takes no snapshots or motion clips.
func TestStillsBlob(t *testing.T) {
	b, err := stillsBlob(context.Background(), func(string) string { return "" })
	require.NoError(t, err)
	require.Nil(t, b)

	env := map[string]string{"LIVESTACK_BUCKET": "assets-bucket", "AWS_REGION": "eu-west-1"}
	b, err = stillsBlob(context.Background(), func(k string) string { return env[k] })
	require.NoError(t, err)
	require.NotNil(t, b)
}
