package httpapi

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChannelsDocExamples keeps docs/channels.md honest: its full example is
// accepted and echoed with timestamps, and its smallest create stores exactly
// what the document shows.
func TestChannelsDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/channels.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	require.Len(t, blocks, 2)
	e := newEnv(t, nil)

	full := blocks[0][1]
	r := e.do(t, "POST", "/api/v1/channels", full)
	require.Equal(t, 201, r.status, r.body)
	var want map[string]any
	require.NoError(t, json.Unmarshal([]byte(full), &want))
	want["createdAt"], want["updatedAt"] = "2030-01-02T03:04:05Z", "2030-01-02T03:04:05Z"
	require.JSONEq(t, mustJSON(t, want), r.body)
	require.Equal(t, "/api/v1/channels/lobby-cam", r.header.Get("Location"))

	r = e.do(t, "POST", "/api/v1/channels", `{"name": "demo"}`)
	require.Equal(t, 201, r.status, r.body)
	var c struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &c))
	require.JSONEq(t, strings.Replace(blocks[1][1], "0b6c3f8e-5d1a-4c2e-9f3b-7a8d2e1c4b5a", c.ID, 1), r.body)
}
