package snapshot

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
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

// fakeFFmpeg writes an executable shell script standing in for ffmpeg.
func fakeFFmpeg(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "ffmpeg")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700))
	return p
}

// TestPersistentRestarts: a decoder process that hangs or dies is replaced
// (and counted), and each failed picture is an error, not a hang.
func TestPersistentRestarts(t *testing.T) {
	k := Keyframe{Header: x264Header, Frame: []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}}
	for _, tc := range []struct{ name, script string }{
		{"hangs", "exec sleep 30"},
		{"dies", "exit 3"},
		{"garbage", "cat >/dev/null & printf 'not a jpeg'; wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewPersistent(DecoderConfig{FFmpeg: fakeFFmpeg(t, tc.script), Timeout: 500 * time.Millisecond})
			defer d.Close()
			for i := 1; i <= 2; i++ {
				start := time.Now()
				_, err := d.Decode(t.Context(), k)
				require.Error(t, err)
				require.Less(t, time.Since(start), 3*time.Second)
				require.EqualValues(t, i, d.Restarts())
			}
		})
	}
}

// TestPersistentHeaderChange: a new sequence header (the encoder restarted
// at another size) gets a fresh process and pictures of the new size.
func TestPersistentHeaderChange(t *testing.T) {
	a := keyframes(encodeFLV(t, "320x240", "1", "-bf", "2"))
	b := keyframes(encodeFLV(t, "160x96", "1", "-bf", "0"))
	d := NewPersistent(DecoderConfig{})
	defer d.Close()
	for i, k := range []Keyframe{a[0], b[0], a[0]} {
		pic, err := d.Decode(t.Context(), k)
		require.NoError(t, err, "picture %d", i)
		img, err := jpeg.Decode(bytes.NewReader(pic))
		require.NoError(t, err)
		require.Equal(t, []int{320, 160, 320}[i], img.Bounds().Dx(), "picture %d", i)
	}
	require.Zero(t, d.Restarts(), "a header change is not a failure")
}
