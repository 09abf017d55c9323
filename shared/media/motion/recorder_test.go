package motion

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/snapshot"
)

// TestRecorderMemoryBounded: an hour of stream without motion keeps only the
// pre-roll window (plus the detector lag allowance and one GOP) in memory.
func TestRecorderMemoryBounded(t *testing.T) {
	for _, tc := range []struct {
		name          string
		gop           uint32 // ms between keyframes
		preRoll, lag  time.Duration
		wantMaxMillis uint32
	}{
		{"defaults, 2 s GOP", 2000, 3 * time.Second, 10 * time.Second, 13000 + 2000},
		{"short, 1 s GOP", 1000, time.Second, time.Second, 2000 + 1000},
		{"GOP longer than the window", 10000, time.Second, time.Second, 2000 + 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{PreRoll: tc.preRoll, MaxDetectorLag: tc.lag}
			cfg.setDefaults()
			r := &recorder{cfg: cfg}
			r.add(snapshot.Packet{Type: flv.TagVideo, Header: true, Data: []byte{0x17, 0}})
			maxLen := 0
			for ms := uint32(0); ms < 3600_000; ms += 40 {
				r.add(snapshot.Packet{Type: flv.TagVideo, Time: ms, Keyframe: ms%tc.gop == 0, Data: []byte{0x27, 1}})
				if ms%120 == 0 {
					r.add(snapshot.Packet{Type: flv.TagAudio, Time: ms, Data: []byte{0xaf, 1}})
				}
				maxLen = max(maxLen, len(r.ring))
				span := r.lastTime - r.ring[0].Time
				require.LessOrEqual(t, span, tc.wantMaxMillis, "at %d ms the ring spans %d ms", ms, span)
			}
			require.True(t, r.ring[0].Keyframe, "the ring starts on a keyframe")
			t.Logf("at most %d packets held", maxLen)
		})
	}
}
