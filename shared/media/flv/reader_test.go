package flv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixture is the committed ffmpeg-made FLV (see testdata/README.md).
const fixture = "testdata/testsrc2-160x120.flv"

// encodeFLV builds an FLV file: the header, then the tags.
func encodeFLV(t testing.TB, tags ...Tag) []byte {
	t.Helper()
	b := Header(true, true)
	for _, tag := range tags {
		var err error
		b, err = AppendTag(b, tag.Type, tag.Timestamp, tag.Data)
		require.NoError(t, err)
	}
	return b
}

// readAll reads tags until an error, alternating Next and NextInto (with a
// reused buffer) when into is set; it returns copies of the tags.
func readAll(r *Reader, into bool) ([]Tag, error) {
	var (
		out []Tag
		buf []byte
	)
	for i := 0; ; i++ {
		var (
			tag Tag
			err error
		)
		if into && i%2 == 1 {
			tag, err = r.NextInto(buf)
			buf = tag.Data
		} else {
			tag, err = r.Next()
		}
		if err != nil {
			return out, err
		}
		tag.Data = append([]byte{}, tag.Data...)
		out = append(out, tag)
	}
}

var roundTripTags = []Tag{
	{Type: TagScript, Timestamp: 0, Data: []byte{2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}},
	{Type: TagVideo, Timestamp: 0, Data: []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe0, 0, 0}},
	{Type: TagAudio, Timestamp: 0, Data: []byte{0xaf, 0, 0x12, 0x10}},
	{Type: TagVideo, Timestamp: 33, Data: []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65}},
	{Type: TagAudio, Timestamp: 40, Data: []byte{}},
	{Type: TagVideo, Timestamp: 0x00ffffff, Data: bytes.Repeat([]byte{0x27}, 300)},
	{Type: TagVideo, Timestamp: 0x01000000, Data: []byte{0x27, 1, 0, 0, 0}},
	{Type: TagAudio, Timestamp: 0xffffffff, Data: []byte{0xaf, 1}},
}

func TestReaderRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		into bool
	}{
		{"Next", false},
		{"NextInto", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(encodeFLV(t, roundTripTags...)), 0)
			got, err := readAll(r, tc.into)
			require.Equal(t, io.EOF, err, "a clean end is a bare io.EOF")
			require.Len(t, got, len(roundTripTags))
			for i := range got {
				require.Equal(t, roundTripTags[i].Type, got[i].Type, "tag %d", i)
				require.Equal(t, roundTripTags[i].Timestamp, got[i].Timestamp, "tag %d", i)
				require.Equal(t, roundTripTags[i].Data, got[i].Data, "tag %d", i)
			}
			require.True(t, r.HasAudio)
			require.True(t, r.HasVideo)
		})
	}
}

func TestReaderPutTagHeaderRoundTrip(t *testing.T) {
	// A writer that builds tags in place with PutTagHeader (as the hub does).
	data := []byte{0x17, 1, 0, 0, 0}
	b := Header(false, true)
	tag := make([]byte, TagHeaderSize+len(data)+PrevSizeLength)
	PutTagHeader(tag, TagVideo, 0x01020304, len(data))
	copy(tag[TagHeaderSize:], data)
	tag[len(tag)-1] = byte(TagHeaderSize + len(data))
	b = append(b, tag...)

	r := NewReader(bytes.NewReader(b), 0)
	got, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, Tag{Type: TagVideo, Timestamp: 0x01020304, Data: data}, got)
	_, err = r.Next()
	require.Equal(t, io.EOF, err)
}

func TestReaderNextIntoReusesBuffer(t *testing.T) {
	r := NewReader(bytes.NewReader(encodeFLV(t,
		Tag{Type: TagAudio, Timestamp: 1, Data: []byte{0xaf, 1, 1, 2, 3}},
		Tag{Type: TagAudio, Timestamp: 2, Data: []byte{0xaf, 1, 4}},
		Tag{Type: TagAudio, Timestamp: 3, Data: bytes.Repeat([]byte{9}, 100)},
	)), 0)
	buf := make([]byte, 0, 8)

	tag, err := r.NextInto(buf)
	require.NoError(t, err)
	require.Equal(t, []byte{0xaf, 1, 1, 2, 3}, tag.Data)
	require.Same(t, &buf[:1][0], &tag.Data[0], "data aliases buf when it fits")

	tag, err = r.NextInto(buf)
	require.NoError(t, err)
	require.Equal(t, []byte{0xaf, 1, 4}, tag.Data)
	require.Same(t, &buf[:1][0], &tag.Data[0])

	tag, err = r.NextInto(buf)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{9}, 100), tag.Data, "grown when too small")
	require.Equal(t, byte(0xaf), buf[:1][0], "buf is not written past its use")
}

func TestReaderDataOffset(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  int
	}{
		{"minimum", 9},
		{"extra header bytes", 20},
		{"maximum", 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte{'F', 'L', 'V', 1, 5, 0, 0, byte(tc.off >> 8), byte(tc.off)}
			b = append(b, bytes.Repeat([]byte{0xee}, tc.off-HeaderSize)...)
			b = append(b, 0, 0, 0, 0)
			b, _ = AppendTag(b, TagAudio, 7, []byte{0xaf, 1, 2})
			r := NewReader(bytes.NewReader(b), 0)
			tag, err := r.Next()
			require.NoError(t, err)
			require.Equal(t, Tag{Type: TagAudio, Timestamp: 7, Data: []byte{0xaf, 1, 2}}, tag)
			_, err = r.Next()
			require.Equal(t, io.EOF, err)
		})
	}
}

type readerErrorCase struct {
	name    string
	in      []byte
	max     int
	wantErr string
	is      error // checked with errors.Is when set
}

func readerErrorCases(t testing.TB) []readerErrorCase {
	good := encodeFLV(t, Tag{Type: TagVideo, Timestamp: 5, Data: bytes.Repeat([]byte{0x27}, 100)})
	hdr := Header(true, true)
	tagStart := len(hdr)
	withPrev := func(prev byte) []byte {
		b := append([]byte(nil), good...)
		b[len(b)-1] = prev
		return b
	}
	return []readerErrorCase{
		{name: "empty input", in: nil, wantErr: "flv: header: EOF", is: io.EOF},
		{name: "short header", in: hdr[:8], wantErr: "flv: header: unexpected EOF", is: io.ErrUnexpectedEOF},
		{name: "header without previous tag size", in: hdr[:9], wantErr: "flv: header: unexpected EOF", is: io.ErrUnexpectedEOF},
		{name: "bad signature", in: append([]byte("FLX"), hdr[3:]...), wantErr: `flv: bad signature "FLX"`},
		{name: "not flv at all", in: []byte("GET / HTTP/1.1\r\n\r\n"), wantErr: `flv: bad signature "GET"`},
		{name: "data offset 8", in: []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 8, 0, 0, 0, 0}, wantErr: "flv: bad data offset 8"},
		{name: "data offset 0", in: []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 0, 0, 0, 0, 0}, wantErr: "flv: bad data offset 0"},
		{name: "data offset 1025", in: []byte{'F', 'L', 'V', 1, 5, 0, 0, 4, 1, 0, 0, 0, 0}, wantErr: "flv: bad data offset 1025"},
		{name: "data offset 4 GiB", in: []byte{'F', 'L', 'V', 1, 5, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, wantErr: "flv: bad data offset 4294967295"},
		{name: "data offset past the end", in: []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 20, 0, 0, 0, 0, 1}, wantErr: "flv: header: unexpected EOF", is: io.ErrUnexpectedEOF},
		{name: "partial tag header", in: good[:tagStart+5], wantErr: "flv: tag header: unexpected EOF", is: io.ErrUnexpectedEOF},
		{name: "unknown tag type", in: append(append([]byte(nil), hdr...), 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11), wantErr: "flv: unknown tag type 11"},
		{name: "encrypted tag", in: append(append([]byte(nil), hdr...), 0x20|9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11), wantErr: "flv: video tag is encrypted (filter bit set)"},
		{name: "reserved bits", in: append(append([]byte(nil), hdr...), 0x40|8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11), wantErr: "flv: audio tag header has reserved bits or a stream id set"},
		{name: "stream id", in: append(append([]byte(nil), hdr...), 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 11), wantErr: "flv: script tag header has reserved bits or a stream id set"},
		{name: "tag over the limit", in: good, max: 99, wantErr: "flv: video tag of 100 bytes exceeds limit 99"},
		{name: "16 MiB tag header with a small limit", in: append(append([]byte(nil), hdr...), 8, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0), max: 1 << 20, wantErr: "flv: audio tag of 16777215 bytes exceeds limit 1048576"},
		{name: "truncated data", in: good[:tagStart+TagHeaderSize+50], wantErr: "flv: video tag data: unexpected EOF", is: io.ErrUnexpectedEOF},
		{name: "data cut right after the header", in: good[:tagStart+TagHeaderSize], wantErr: "flv: video tag data: unexpected EOF", is: io.ErrUnexpectedEOF},
		{name: "missing previous tag size", in: good[:len(good)-4], wantErr: "flv: previous tag size: unexpected EOF", is: io.ErrUnexpectedEOF},
		{name: "partial previous tag size", in: good[:len(good)-2], wantErr: "flv: previous tag size: unexpected EOF", is: io.ErrUnexpectedEOF},
		{name: "wrong previous tag size", in: withPrev(110), wantErr: "flv: previous tag size 110, want 111"},
		{name: "previous tag size without the header", in: withPrev(100), wantErr: "flv: previous tag size 100, want 111"},
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range readerErrorCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.in), tc.max)
			tags, err := readAll(r, false)
			require.Empty(t, tags)
			require.EqualError(t, err, tc.wantErr)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			if !errors.Is(tc.is, io.EOF) {
				require.NotErrorIs(t, err, io.EOF, "only a clean end may look like io.EOF")
			}
		})
	}
}

func TestReaderMaxTagSize(t *testing.T) {
	in := encodeFLV(t, Tag{Type: TagScript, Data: make([]byte, 100)})
	for _, tc := range []struct {
		name string
		max  int
		ok   bool
	}{
		{"default", 0, true},
		{"negative means default", -1, true},
		{"above 16 MiB means default", MaxTagDataSize + 1, true},
		{"exactly the size", 100, true},
		{"one byte short", 99, false},
		{"one", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(in), tc.max).Next()
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, "exceeds limit")
			}
		})
	}
}

// TestReaderFixture reads the ffmpeg-made file and checks every tag decodes.
func TestReaderFixture(t *testing.T) {
	raw, err := os.ReadFile(fixture)
	require.NoError(t, err)
	r := NewReader(bytes.NewReader(raw), 1<<16)
	tags, err := readAll(r, true)
	require.Equal(t, io.EOF, err)
	require.True(t, r.HasAudio)
	require.True(t, r.HasVideo)
	require.Len(t, tags, 20)

	// Re-encoding every tag gives the file back byte for byte.
	require.Equal(t, raw, encodeFLV(t, tags...))

	require.Equal(t, TagScript, tags[0].Type)
	require.True(t, bytes.HasPrefix(tags[0].Data, []byte("\x02\x00\x0aonMetaData")))

	var (
		keyframes, inter, audioFrames int
		sawVideoHdr, sawAudioHdr, eos bool
		lastVideo                     uint32
	)
	for _, tag := range tags[1:] {
		switch tag.Type {
		case TagVideo:
			v, err := ParseVideo(tag.Data)
			require.NoError(t, err)
			require.Equal(t, "h264", v.Codec)
			require.GreaterOrEqual(t, tag.Timestamp, lastVideo, "DTS never goes backwards")
			lastVideo = tag.Timestamp
			switch v.PacketType {
			case VideoSequenceHeader:
				sawVideoHdr = true
				c, err := ParseAVCConfig(v.Payload)
				require.NoError(t, err)
				require.Equal(t, 160, c.Width)
				require.Equal(t, 120, c.Height)
				require.Equal(t, "avc1.64000b", c.CodecString)
			case VideoFrames:
				require.True(t, sawVideoHdr, "sequence header first")
				require.GreaterOrEqual(t, v.CompositionTime, int32(0))
				if v.Keyframe {
					keyframes++
				} else {
					inter++
				}
			case VideoEndOfSequence:
				eos = true
			}
		case TagAudio:
			a, err := ParseAudio(tag.Data)
			require.NoError(t, err)
			require.Equal(t, "aac", a.Codec)
			if a.PacketType == AudioSequenceHeader {
				sawAudioHdr = true
				c, err := ParseAACConfig(a.Payload)
				require.NoError(t, err)
				require.Equal(t, AACConfig{SampleRate: 44100, Channels: 2, ObjectType: 2, CodecString: "mp4a.40.2", SamplesPerAU: 1024}, c)
			} else {
				audioFrames++
			}
		}
	}
	require.True(t, sawAudioHdr)
	require.True(t, eos)
	require.Equal(t, 2, keyframes)
	require.Equal(t, 4, inter)
	require.Equal(t, 10, audioFrames)
}
