package snapshot

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// needFFmpeg skips (or, under make test, fails) when ffmpeg is missing.
func needFFmpeg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("LIVESTACK_E2E") == "1" {
			t.Fatalf("ffmpeg is required: %v", err)
		}
		t.Skip("ffmpeg not installed; run `make test` to install it")
	}
}

// encodeFLV makes a short H.264 FLV test pattern and returns its packets.
func encodeFLV(t testing.TB, size string, seconds string, extra ...string) []Packet {
	t.Helper()
	needFFmpeg(t)
	p := filepath.Join(t.TempDir(), "in.flv")
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=25",
		"-t", seconds, "-c:v", "libx264", "-preset", "ultrafast", "-g", "25"}
	args = append(append(args, extra...), "-f", "flv", p)
	out, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	src := NewFLVSource(f, 0)
	var pkts []Packet
	for {
		pkt, err := src.Next(t.Context())
		if err != nil {
			break
		}
		pkts = append(pkts, pkt)
	}
	return pkts
}

// keyframes returns the sequence header and the keyframes of pkts.
func keyframes(pkts []Packet) []Keyframe {
	var hdr []byte
	var out []Keyframe
	for _, p := range pkts {
		if p.Type != flv.TagVideo {
			continue
		}
		if p.Header {
			hdr = p.Data
		} else if p.Keyframe && hdr != nil {
			out = append(out, Keyframe{Header: hdr, Frame: p.Data, Time: p.Time})
		}
	}
	return out
}
