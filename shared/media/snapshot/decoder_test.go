package snapshot

import (
	"bytes"
	"image/jpeg"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDecoders(t *testing.T) {
	pkts := encodeFLV(t, "1920x1080", "3", "-bf", "2")
	kfs := keyframes(pkts)
	require.Len(t, kfs, 3)
	for _, tc := range []struct {
		name string
		dec  Decoder
		w, h int
	}{
		{"persistent", NewPersistent(DecoderConfig{}), 1280, 720},
		{"oneshot", NewOneShot(DecoderConfig{}), 1280, 720},
		{"persistent-small", NewPersistent(DecoderConfig{MaxWidth: 320}), 320, 180},
		{"oneshot-nocap", NewOneShot(DecoderConfig{MaxWidth: 4000}), 1920, 1080},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.dec.Close()
			for i, k := range kfs {
				start := time.Now()
				pic, err := tc.dec.Decode(t.Context(), k)
				require.NoError(t, err, "keyframe %d", i)
				t.Logf("keyframe %d: %d bytes in %v", i, len(pic), time.Since(start))
				img, err := jpeg.Decode(bytes.NewReader(pic))
				require.NoError(t, err)
				require.Equal(t, tc.w, img.Bounds().Dx())
				require.Equal(t, tc.h, img.Bounds().Dy())
			}
			require.Zero(t, tc.dec.Restarts())
		})
	}
}

// TestPersistentMatchesOneShot checks that the persistent decoder hands out
// the picture of the keyframe just fed, not one held back from an earlier
// keyframe, for streams with and without B-frames.
func TestPersistentMatchesOneShot(t *testing.T) {
	for _, tc := range []struct {
		name    string
		extra   []string
		reorder int
	}{
		{"bframes", []string{"-bf", "2"}, 2},
		{"no bframes", []string{"-bf", "0", "-tune", "zerolatency"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kfs := keyframes(encodeFLV(t, "320x240", "4", tc.extra...))
			require.Len(t, kfs, 4)
			r, ok := ReorderDepth(kfs[0].Header)
			require.True(t, ok)
			require.Equal(t, tc.reorder, r)
			p, o := NewPersistent(DecoderConfig{}), NewOneShot(DecoderConfig{})
			defer p.Close()
			var prev []byte
			for i, k := range kfs {
				a, err := p.Decode(t.Context(), k)
				require.NoError(t, err)
				b, err := o.Decode(t.Context(), k)
				require.NoError(t, err)
				require.Equal(t, b, a, "keyframe %d: persistent and one-shot pictures differ", i)
				require.NotEqual(t, prev, a, "keyframe %d: same picture as before", i)
				prev = a
			}
		})
	}
}

func TestReorderDepthUnknown(t *testing.T) {
	for _, h := range [][]byte{nil, {0x17}, {0x17, 0x00, 0, 0, 0, 1, 2}, {0x1c, 0x00, 0, 0, 0}} {
		_, ok := ReorderDepth(h)
		require.False(t, ok, "% x", h)
	}
}
