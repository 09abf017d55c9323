package rtmpclient

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStatusParsing(t *testing.T) {
	ok := []any{nil, map[string]any{"level": "status", "code": "NetStream.Publish.Start", "description": "go"}}
	bad := []any{nil, map[string]any{"level": "error", "code": "NetStream.Publish.BadName", "description": "taken"}}
	connect := []any{map[string]any{"fmsVer": "FMS/3,0,1,123"}, map[string]any{"level": "status", "code": "NetConnection.Connect.Success"}}

	code, desc := statusOf(ok)
	require.Equal(t, "NetStream.Publish.Start", code)
	require.Equal(t, "go", desc)
	require.False(t, isErrorStatus(ok))
	require.True(t, isErrorStatus(bad))
	code, _ = statusOf(connect)
	require.Equal(t, "NetConnection.Connect.Success", code)
	code, desc = statusOf([]any{nil, "junk", 3.0})
	require.Empty(t, code+desc)
	require.Equal(t, "no status given", joinStatus("", ""))
	require.Equal(t, "NetStream.Publish.BadName (taken)", joinStatus(statusOf(bad)))

	for _, tt := range []struct {
		args []any
		id   uint32
		ok   bool
	}{
		{[]any{nil, 1.0}, 1, true},
		{[]any{nil, 7.0}, 7, true},
		{[]any{nil}, 0, false},
		{[]any{nil, 0.0}, 0, false},
		{[]any{nil, 1.5}, 0, false},
		{[]any{nil, -3.0}, 0, false},
		{[]any{nil, "1"}, 0, false},
	} {
		id, ok := streamIDOf(tt.args)
		require.Equal(t, tt.ok, ok, "%v", tt.args)
		require.Equal(t, tt.id, id, "%v", tt.args)
	}
}
