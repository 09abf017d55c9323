package flv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixtureTags returns the tags of the committed FLV fixture.
func fixtureTags(tb testing.TB) (raw []byte, tags []Tag) {
	tb.Helper()
	raw, err := os.ReadFile(fixture)
	require.NoError(tb, err)
	tags, err = readAll(NewReader(bytes.NewReader(raw), 0), false)
	require.Equal(tb, io.EOF, err)
	return raw, tags
}

// FuzzReader feeds arbitrary bytes to a Reader, alternating Next and NextInto
// as the fuzzer chooses, until it fails. It must not panic; every tag it
// returns must re-encode with AppendTag to exactly the bytes it was read from
// and respect the size limit; a bare io.EOF means every byte was consumed.
func FuzzReader(f *testing.F) {
	raw, _ := fixtureTags(f)
	f.Add(raw, uint16(0), uint8(0))
	f.Add(raw, uint16(1000), uint8(0xaa))
	f.Add(encodeFLV(f, roundTripTags...), uint16(0), uint8(0x55))
	f.Add(Header(true, false), uint16(0), uint8(0))
	for _, tc := range readerErrorCases(f) {
		f.Add(tc.in, uint16(tc.max), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxSize uint16, into uint8) {
		limit := int(maxSize)
		if limit == 0 {
			limit = MaxTagDataSize
		}
		r := NewReader(bytes.NewReader(data), int(maxSize))
		pos := -1
		var buf []byte
		for i := 0; ; i++ {
			var (
				tag Tag
				err error
			)
			if into>>(i%8)&1 == 1 {
				tag, err = r.NextInto(buf)
				buf = tag.Data
			} else {
				tag, err = r.Next()
			}
			if pos < 0 && (err == nil || r.started) {
				// The header was accepted: tags start after it and PreviousTagSize0.
				require.GreaterOrEqual(t, len(data), HeaderSize+PrevSizeLength)
				pos = int(binary.BigEndian.Uint32(data[5:9])) + PrevSizeLength
			}
			if err != nil {
				if err == io.EOF {
					require.Equal(t, len(data), pos, "a clean end consumed every byte")
				} else if errors.Is(err, io.EOF) {
					require.Empty(t, data, "only an empty input ends with a wrapped io.EOF")
				}
				return
			}
			require.LessOrEqual(t, len(tag.Data), limit)
			enc, err := AppendTag(nil, tag.Type, tag.Timestamp, tag.Data)
			require.NoError(t, err)
			require.LessOrEqual(t, pos+len(enc), len(data))
			require.Equal(t, data[pos:pos+len(enc)], enc, "tag %d re-encodes to the bytes it was read from", i)
			pos += len(enc)
		}
	})
}

// checkVideo checks what ParseVideo returned for in.
func checkVideo(t *testing.T, in []byte, v VideoInfo, err error) {
	if err != nil {
		return
	}
	require.NotEmpty(t, v.Codec)
	require.GreaterOrEqual(t, v.PacketType, VideoSequenceHeader)
	require.LessOrEqual(t, v.PacketType, VideoOther)
	require.Less(t, len(v.Payload), len(in), "the payload follows a header")
	require.True(t, bytes.HasSuffix(in, v.Payload), "the payload is the end of the input")
	require.GreaterOrEqual(t, v.CompositionTime, int32(-1<<23))
	require.Less(t, v.CompositionTime, int32(1<<23))
	frameType := in[0] >> 4
	if in[0]&0x80 != 0 {
		frameType &= 0x07
	}
	require.Equal(t, frameType == FrameKey, v.Keyframe)
	if v.CompositionTime != 0 {
		require.Contains(t, []string{"h264", "h265"}, v.Codec, "only AVC and HEVC carry a composition time")
	}
}

// FuzzParseVideo checks ParseVideo never panics, returns a payload aliasing its
// input and, for AVC sequence headers, that ParseAVCConfig copes with it.
func FuzzParseVideo(f *testing.F) {
	for _, tc := range videoCases {
		f.Add(tc.in)
	}
	_, tags := fixtureTags(f)
	for _, tag := range tags {
		if tag.Type == TagVideo {
			f.Add(tag.Data)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := ParseVideo(in)
		checkVideo(t, in, v, err)
		if err == nil && v.Codec == "h264" && v.PacketType == VideoSequenceHeader {
			c, err := ParseAVCConfig(v.Payload)
			checkAVC(t, v.Payload, c, err)
		}
	})
}

// checkAVC checks what ParseAVCConfig returned for in: a record that parses is
// one a packager can use.
func checkAVC(t *testing.T, in []byte, c AVCConfig, err error) {
	if err != nil {
		return
	}
	require.Equal(t, byte(1), in[0])
	require.Equal(t, fmt.Sprintf("avc1.%02x%02x%02x", in[1], in[2], in[3]), c.CodecString)
	require.Equal(t, in[1], c.Profile)
	require.Equal(t, in[2], c.ProfileCompatibl)
	require.Equal(t, in[3], c.Level)
	require.Contains(t, []int{1, 2, 3, 4}, c.NALULengthSize)
	require.NotEmpty(t, c.SPS)
	n := 7 + 2*(len(c.SPS)+len(c.PPS))
	for _, p := range append(append([][]byte{}, c.SPS...), c.PPS...) {
		n += len(p)
	}
	require.LessOrEqual(t, n, len(in), "parameter sets lie within the record")
	require.Positive(t, c.Width)
	require.Positive(t, c.Height)
	require.LessOrEqual(t, c.Width, maxPictureSize)
	require.LessOrEqual(t, c.Height, maxPictureSize)
	require.False(t, math.IsNaN(c.FPS) || math.IsInf(c.FPS, 0), "fps %v", c.FPS)
	require.GreaterOrEqual(t, c.FPS, 0.0)
}

// FuzzParseAVCConfig checks ParseAVCConfig on arbitrary records.
func FuzzParseAVCConfig(f *testing.F) {
	for _, tc := range avcCases {
		f.Add(tc.in)
	}
	_, tags := fixtureTags(f)
	for _, tag := range tags {
		if v, err := ParseVideo(tag.Data); err == nil && tag.Type == TagVideo && v.PacketType == VideoSequenceHeader {
			f.Add(v.Payload)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseAVCConfig(in)
		checkAVC(t, in, c, err)
	})
}

// checkAAC checks what ParseAACConfig returned: a config that parses is one a
// packager can use (it divides by the sample rate).
func checkAAC(t *testing.T, c AACConfig, err error) {
	if err != nil {
		return
	}
	require.Positive(t, c.SampleRate)
	require.GreaterOrEqual(t, c.Channels, 0)
	require.LessOrEqual(t, c.Channels, 8)
	require.Contains(t, []int{960, 1024}, c.SamplesPerAU)
	require.Equal(t, fmt.Sprintf("mp4a.40.%d", c.ObjectType), c.CodecString)
}

// FuzzParseAudio checks ParseAudio, then ParseAACConfig on AAC sequence
// headers and on the raw input.
func FuzzParseAudio(f *testing.F) {
	for _, tc := range audioCases {
		f.Add(tc.in)
	}
	for _, tc := range aacCases {
		f.Add(append([]byte{0xaf, 0}, tc.in...))
	}
	_, tags := fixtureTags(f)
	for _, tag := range tags {
		if tag.Type == TagAudio {
			f.Add(tag.Data)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := ParseAudio(in)
		if err == nil {
			require.NotEmpty(t, a.Codec)
			require.Contains(t, []AudioPacketType{AudioSequenceHeader, AudioFrames}, a.PacketType)
			require.Less(t, len(a.Payload), len(in))
			require.True(t, bytes.HasSuffix(in, a.Payload))
			if a.PacketType == AudioSequenceHeader {
				require.Equal(t, "aac", a.Codec)
				c, err := ParseAACConfig(a.Payload)
				checkAAC(t, c, err)
			}
		}
		c, err := ParseAACConfig(in)
		checkAAC(t, c, err)
	})
}
