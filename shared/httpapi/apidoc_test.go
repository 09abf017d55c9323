package httpapi

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAPIDocCoversEveryRoute: docs/api.md has a section with a curl example
// for every documented operation.
func TestAPIDocCoversEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	require.NoError(t, err)
	doc := string(b)
	for _, op := range append(operations, operation{method: "GET", path: "/healthz"}) {
		head := "### " + op.method + " " + op.path + "\n"
		i := strings.Index(doc, head)
		require.GreaterOrEqual(t, i, 0, "docs/api.md has no section %q", strings.TrimSpace(head))
		section := doc[i+len(head):]
		if j := strings.Index(section, "\n#"); j >= 0 {
			section = section[:j]
		}
		require.Contains(t, section, "curl ", "section %s has no curl example", strings.TrimSpace(head))
	}
}
