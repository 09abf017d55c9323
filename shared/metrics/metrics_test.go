package metrics

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/rtmpserver"
)

// ingestReasons reads every Reason* string constant declared in shared/ingest
// (Go cannot list a package's constants at run time), so that a reason added
// there without a series here is noticed.
func ingestReasons(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../ingest/*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Reason") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok && lit.Kind == token.STRING, "%s is not a string literal", name.Name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					out[name.Name] = v
				}
			}
		}
	}
	return out
}

func TestEveryRefusalReasonHasASeries(t *testing.T) {
	reasons := ingestReasons(t)
	require.Contains(t, reasons, "ReasonSourceOffline")
	require.Len(t, refusalReasons, len(reasons), "refusalReasons lists something that is no ingest.Reason*, or twice")
	for name, v := range reasons {
		require.Contains(t, refusalReasons, v, "ingest.%s (%q) is missing from refusalReasons", name, v)
	}

	// Each reason is a series from the start, at zero.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(RTMPSource{Server: &rtmpserver.Server{}})
	families, err := reg.Gather()
	require.NoError(t, err)
	var labels []string
	for _, f := range families {
		if !strings.HasSuffix(f.GetName(), "publish_refused_total") {
			continue
		}
		for _, m := range f.GetMetric() {
			require.Zero(t, m.GetCounter().GetValue())
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
		}
	}
	require.ElementsMatch(t, refusalReasons, labels)
}

func TestHandlerExportsSchedulerAndGCMetrics(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	for _, series := range []string{
		"go_sched_latencies_seconds_bucket",
		"go_gc_heap_live_bytes",
		"go_cpu_classes_gc_total_cpu_seconds_total",
		"go_goroutines",
		"process_cpu_seconds_total",
	} {
		require.Contains(t, body, "\n"+series, "series %s", series)
	}
}
