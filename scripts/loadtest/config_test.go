package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseConfig(t *testing.T) {
	env := func(string) string { return "" }
	tests := []struct {
		name  string
		args  []string
		err   string
		check func(t *testing.T, c config)
	}{
		{"single run", []string{"-server-bin", "bin/standalone", "-viewers", "50", "-duration", "15s"}, "", func(t *testing.T, c config) {
			require.Equal(t, []int{50}, c.steps())
			require.Equal(t, 15*time.Second, c.Duration)
			require.Equal(t, time.Duration(-1), c.MergeWindow, "server default")
		}},
		{"sweep and merge window", []string{"-server-bin", "x", "-sweep", "500, 1000,2000", "-merge-window", "0"}, "", func(t *testing.T, c config) {
			require.Equal(t, []int{500, 1000, 2000}, c.steps())
			require.Equal(t, time.Duration(0), c.MergeWindow)
		}},
		{"api with token", []string{"-api", "http://localhost:8080", "-token", "t0k3n", "-server-pid", "42"}, "", nil},
		{"push and play", []string{"-push", "rtmp://127.0.0.1:1935/stream/load?sign=1-ab", "-play", "http://127.0.0.1:8080/load/live.flv"}, "", nil},
		{"make input needs no target", []string{"-make-input"}, "", nil},
		{"no target", nil, "no target", nil},
		{"two targets", []string{"-server-bin", "x", "-api", "http://127.0.0.1:1"}, "only one of", nil},
		{"api without token", []string{"-api", "http://127.0.0.1:1"}, "needs -token", nil},
		{"push without play", []string{"-push", "rtmp://127.0.0.1/stream/x"}, "go together", nil},
		{"remote host", []string{"-push", "rtmp://example.com/stream/x", "-play", "http://127.0.0.1/x/live.flv"}, "only targets loopback", nil},
		{"sweep must increase", []string{"-server-bin", "x", "-sweep", "500,500"}, "must increase", nil},
		{"sweep count", []string{"-server-bin", "x", "-sweep", "500,lots"}, "not a viewer count", nil},
		{"merge window range", []string{"-server-bin", "x", "-merge-window", "2s"}, "-merge-window", nil},
		{"duration range", []string{"-server-bin", "x", "-duration", "20m"}, "-duration", nil},
		{"server-args without server", []string{"-api", "http://127.0.0.1:1", "-token", "t", "-server-args", "--x"}, "-server-args needs", nil},
		{"stray argument", []string{"-server-bin", "x", "more"}, "unexpected arguments", nil},
		{"latency mode", []string{"-mode", "latency", "-server-bin", "x", "-runs", "5", "-edge-for", "3s"}, "", func(t *testing.T, c config) {
			require.Equal(t, modeLatency, c.Mode)
			require.Equal(t, 5, c.Runs)
			require.Equal(t, viewerInput, c.preset())
		}},
		{"publishers mode", []string{"-mode", "publishers", "-server-bin", "x", "-sweep", "100,200", "-record", "mp4, hlsvod"}, "", func(t *testing.T, c config) {
			require.Equal(t, []int{100, 200}, c.steps())
			require.Equal(t, []string{"mp4", "hlsvod"}, c.Record)
			require.Equal(t, cameraInput, c.preset())
			require.Equal(t, defaultInputPath(cameraInput, 30), c.Input)
			require.Equal(t, time.Second, c.Behind)
		}},
		{"publishers single", []string{"-mode", "publishers", "-api", "http://127.0.0.1:1", "-token", "t", "-publishers", "70"}, "", func(t *testing.T, c config) {
			require.Equal(t, []int{70}, c.steps())
		}},
		{"unknown mode", []string{"-mode", "nope", "-server-bin", "x"}, "-mode", nil},
		{"record value", []string{"-mode", "publishers", "-server-bin", "x", "-record", "tape"}, "-record", nil},
		{"record needs publishers", []string{"-server-bin", "x", "-record", "mp4"}, "-record is for", nil},
		{"latency needs a channel api", []string{"-mode", "latency", "-push", "rtmp://127.0.0.1/stream/x", "-play", "http://127.0.0.1/x/live.flv"}, "creates its channels", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, env, io.Discard)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, c)
			}
			require.Less(t, c.bound(), time.Hour)
		})
	}
}

func TestTokenFromEnv(t *testing.T) {
	c, err := parseConfig([]string{"-api", "http://127.0.0.1:8080"}, func(k string) string {
		if k == "LIVESTACK_ADMIN_TOKEN" {
			return "from-env"
		}
		return ""
	}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "from-env", c.Token)
}

func TestBound(t *testing.T) {
	c := config{Sweep: []int{1000, 2000}, Ramp: 500, ConnectTimeout: 10 * time.Second, Warmup: 5 * time.Second,
		Duration: 30 * time.Second, Cooldown: 3 * time.Second, Baseline: 5 * time.Second, PubWarmup: 3 * time.Second}
	// 1 min + 3 s + 5 s, then per step ramp + 10 + 5 + 30 + 3 + 15 s.
	require.Equal(t, 68*time.Second+(2+63)*time.Second+(4+63)*time.Second, c.bound())
}

func TestLoopbackURL(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"http://127.0.0.1:8080/load/live.flv", "http://127.0.0.1:8080/load/live.flv", ""},
		{"http://localhost:8080/load/live.flv", "http://127.0.0.1:8080/load/live.flv", ""},
		{"rtmp://localhost/stream/load?sign=1-ab", "rtmp://127.0.0.1/stream/load?sign=1-ab", ""},
		{"http://127.1.2.3:80/", "http://127.1.2.3:80/", ""},
		{"http://[::1]:8080/x", "http://[::1]:8080/x", ""},
		{"http://10.0.0.1:8080/x", "", "loopback"},
		{"http://localhost.example.com/x", "", "loopback"},
		{"https://127.0.0.1/x", "", "scheme"},
		{"rtmps://127.0.0.1/x", "", "scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := loopbackURL(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, u.String())
		})
	}
}
