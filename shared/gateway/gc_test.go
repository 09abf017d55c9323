package gateway

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	for _, tc := range []struct {
		gogc string
		want int // returned
		set  int // in effect afterwards
	}{
		{gogc: "", want: DefaultGCPercent, set: DefaultGCPercent},
		{gogc: "200", want: -1, set: 100}, // GOGC wins: left as the runtime has it
	} {
		debug.SetGCPercent(100)
		got := TuneGC(func(k string) string {
			if k == "GOGC" {
				return tc.gogc
			}
			return ""
		})
		require.Equal(t, tc.want, got)
		require.Equal(t, tc.set, debug.SetGCPercent(100), "GOGC=%q", tc.gogc)
	}
}
