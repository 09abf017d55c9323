package snapshot

import (
	"bytes"
	"encoding/hex"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// x264Header is an FLV AVC sequence header from x264 (320x240, B-frames on).
var x264Header, _ = hex.DecodeString("1700000000014d400dffe10018674d400deca0a0fd80880000030008000003019078a14cb001000468ce0fc8")

func TestReorderDepthX264(t *testing.T) {
	r, ok := ReorderDepth(x264Header)
	require.True(t, ok)
	require.Equal(t, 2, r)
}

// FuzzReorderDepth: sequence headers come from publishers; no input may
// panic, and a depth is never beyond what H.264 allows.
func FuzzReorderDepth(f *testing.F) {
	f.Add(x264Header)
	f.Add([]byte{0x17, 0, 0, 0, 0})
	f.Add(x264Header[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := ReorderDepth(b)
		if ok && (r < 0 || r > 16) {
			t.Fatalf("reorder depth %d", r)
		}
		if !ok && r != 0 {
			t.Fatalf("depth %d reported with !ok", r)
		}
	})
}

// FuzzFLVSource: a worker reads HTTP-FLV from the network; any bytes end in
// packets and an error, never a panic, and every packet is classified as its
// header says.
func FuzzFLVSource(f *testing.F) {
	valid := flv.Header(true, true)
	valid, _ = flv.AppendTag(valid, flv.TagVideo, 0, x264Header)
	valid, _ = flv.AppendTag(valid, flv.TagVideo, 40, []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65})
	valid, _ = flv.AppendTag(valid, flv.TagAudio, 40, []byte{0xaf, 0, 0x12, 0x10})
	valid, _ = flv.AppendTag(valid, flv.TagScript, 0, []byte{2, 0, 1, 'x'})
	f.Add(valid)
	f.Add(valid[:30])
	f.Add([]byte("FLV"))
	f.Fuzz(func(t *testing.T, b []byte) {
		src := NewFLVSource(io.NopCloser(bytes.NewReader(b)), 1<<16)
		for i := 0; i < 1000; i++ {
			p, err := src.Next(t.Context())
			if err != nil {
				return
			}
			if p.Keyframe && (p.Type != flv.TagVideo || p.Header) {
				t.Fatalf("keyframe flag on %v header=%v", p.Type, p.Header)
			}
			if len(p.Data) > 1<<16 {
				t.Fatalf("tag of %d bytes over the limit", len(p.Data))
			}
		}
	})
}
