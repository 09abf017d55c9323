package relay

import (
	"bytes"
	"crypto/tls"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-amf0"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
)

func TestBackoffBounds(t *testing.T) {
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		name     string
		min, max time.Duration
		attempt  int
		lo, hi   time.Duration // the exact jitter extremes
	}{
		{"first retry waits min", time.Second, 30 * time.Second, 1, time.Second, time.Second},
		{"second doubles", time.Second, 30 * time.Second, 2, time.Second, 2 * time.Second},
		{"third", time.Second, 30 * time.Second, 3, 2 * time.Second, 4 * time.Second},
		{"fifth", time.Second, 30 * time.Second, 5, 8 * time.Second, 16 * time.Second},
		{"capped", time.Second, 30 * time.Second, 6, 15 * time.Second, 30 * time.Second},
		{"stays capped", time.Second, 30 * time.Second, 1000, 15 * time.Second, 30 * time.Second},
		{"min equals max", time.Second, time.Second, 7, time.Second, time.Second},
		{"test-sized", 50 * time.Millisecond, 200 * time.Millisecond, 4, 100 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.lo, backoff(tt.attempt, tt.min, tt.max, lowest))
			require.Equal(t, tt.hi, backoff(tt.attempt, tt.min, tt.max, highest))
			for range 1000 {
				d := backoff(tt.attempt, tt.min, tt.max, rand.Int64N)
				require.GreaterOrEqual(t, d, tt.lo)
				require.LessOrEqual(t, d, tt.hi)
			}
		})
	}
}

func TestBackoffDefaults(t *testing.T) {
	cfg := Config{}
	cfg.setDefaults()
	require.Equal(t, time.Second, cfg.MinBackoff)
	require.Equal(t, 30*time.Second, cfg.MaxBackoff)
	require.Equal(t, 10*time.Second, cfg.DialTimeout)
	require.Equal(t, 10*time.Second, cfg.WriteTimeout)
	require.Equal(t, uint32(4096), cfg.ChunkSize)
	require.Equal(t, 30*time.Second, cfg.stableAfter)

	cfg = Config{MinBackoff: time.Minute, MaxBackoff: time.Second}
	cfg.setDefaults()
	require.Equal(t, time.Minute, cfg.MaxBackoff, "max never below min")
}

func tlsInsecure() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

func TestTLSConfigAlwaysVerifies(t *testing.T) {
	cfg := Config{}
	cfg.setDefaults()
	tc := cfg.tlsConfig("example.com")
	require.False(t, tc.InsecureSkipVerify)
	require.Equal(t, "example.com", tc.ServerName)
	require.Nil(t, tc.RootCAs, "system roots")

	cfg.TLS = tlsInsecure()
	tc = cfg.tlsConfig("example.com")
	require.False(t, tc.InsecureSkipVerify, "InsecureSkipVerify in Config.TLS is ignored")
	require.True(t, cfg.TLS.InsecureSkipVerify, "the caller's config is not modified")
}

func TestRebaser(t *testing.T) {
	pkt := func(typ flv.TagType, ts uint32) *hub.Packet { return &hub.Packet{Type: typ, Time: ts} }
	const (
		a = flv.TagAudio
		v = flv.TagVideo
		s = flv.TagScript
	)
	tests := []struct {
		name string
		in   []*hub.Packet
		want []uint32
	}{
		{"starts at zero", []*hub.Packet{pkt(s, 0), pkt(v, 5000), pkt(a, 5000), pkt(v, 5040), pkt(a, 5023)},
			[]uint32{0, 0, 0, 40, 23}},
		{"audio just before the keyframe clamps to zero", []*hub.Packet{pkt(v, 1000), pkt(a, 990), pkt(a, 1013)},
			[]uint32{0, 0, 13}},
		{"a track never goes back", []*hub.Packet{pkt(v, 100), pkt(v, 140), pkt(v, 120), pkt(v, 180)},
			[]uint32{0, 40, 40, 80}},
		{"tracks are independent", []*hub.Packet{pkt(v, 100), pkt(v, 200), pkt(a, 150)},
			[]uint32{0, 100, 50}},
		{"mid-stream metadata stays at zero", []*hub.Packet{pkt(v, 100), pkt(s, 0), pkt(v, 140)},
			[]uint32{0, 0, 40}},
		{"across the 32-bit wrap", []*hub.Packet{pkt(v, 1<<32-20), pkt(v, 20)},
			[]uint32{0, 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r rebaser
			var got []uint32
			for _, p := range tt.in {
				got = append(got, r.time(p))
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSynthMetadata(t *testing.T) {
	tests := []struct {
		name         string
		st           hub.Stats
		audio, video bool
		want         map[string]any
	}{
		{"h264 and aac", hub.Stats{VideoCodec: "h264", Width: 1280, Height: 720, FPS: 29.97, AudioCodec: "aac", SampleRate: 44100, Channels: 2}, true, true,
			map[string]any{"duration": 0.0, "videocodecid": 7.0, "width": 1280.0, "height": 720.0, "framerate": 29.97,
				"audiocodecid": 10.0, "audiosamplerate": 44100.0, "stereo": true, "encoder": "livestack relay"}},
		{"audio only", hub.Stats{AudioCodec: "mp3", SampleRate: 48000, Channels: 1}, true, false,
			map[string]any{"duration": 0.0, "audiocodecid": 2.0, "audiosamplerate": 48000.0, "stereo": false, "encoder": "livestack relay"}},
		{"nothing measured yet", hub.Stats{}, true, true,
			map[string]any{"duration": 0.0, "encoder": "livestack relay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := amf0.NewDecoder(bytes.NewReader(synthMetadata(tt.st, tt.audio, tt.video)))
			var name string
			require.NoError(t, dec.Decode(&name))
			require.Equal(t, "onMetaData", name)
			var arr amf0.ECMAArray
			require.NoError(t, dec.Decode(&arr))
			require.Equal(t, tt.want, map[string]any(arr))
		})
	}
}
