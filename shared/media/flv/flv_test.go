package flv

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		name            string
		hasAudio, video bool
		want            []byte
	}{
		{"none", false, false, []byte{'F', 'L', 'V', 1, 0x00, 0, 0, 0, 9, 0, 0, 0, 0}},
		{"audio", true, false, []byte{'F', 'L', 'V', 1, 0x04, 0, 0, 0, 9, 0, 0, 0, 0}},
		{"video", false, true, []byte{'F', 'L', 'V', 1, 0x01, 0, 0, 0, 9, 0, 0, 0, 0}},
		{"both", true, true, []byte{'F', 'L', 'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Header(tc.hasAudio, tc.video)
			require.Equal(t, tc.want, h)
			require.Len(t, h, HeaderSize+PrevSizeLength)

			r := NewReader(bytes.NewReader(h), 0)
			require.NoError(t, r.ReadHeader())
			require.Equal(t, tc.hasAudio, r.HasAudio)
			require.Equal(t, tc.video, r.HasVideo)
		})
	}
}

func TestTagTypeString(t *testing.T) {
	for _, tc := range []struct {
		typ  TagType
		want string
	}{
		{TagAudio, "audio"},
		{TagVideo, "video"},
		{TagScript, "script"},
		{TagType(0), "tag(0)"},
		{TagType(255), "tag(255)"},
	} {
		require.Equal(t, tc.want, tc.typ.String())
	}
}

func TestAppendTag(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  TagType
		ts   uint32
		data []byte
		want []byte
	}{
		{
			name: "empty script tag at zero",
			typ:  TagScript,
			want: []byte{18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11},
		},
		{
			name: "audio",
			typ:  TagAudio,
			ts:   0x000102,
			data: []byte{0xaf, 1, 0x21},
			want: []byte{8, 0, 0, 3, 0x00, 0x01, 0x02, 0x00, 0, 0, 0, 0xaf, 1, 0x21, 0, 0, 0, 14},
		},
		{
			name: "timestamp uses the extended byte",
			typ:  TagVideo,
			ts:   0x12345678,
			data: []byte{0x17},
			want: []byte{9, 0, 0, 1, 0x34, 0x56, 0x78, 0x12, 0, 0, 0, 0x17, 0, 0, 0, 12},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("keep")
			got, err := AppendTag(append([]byte(nil), prefix...), tc.typ, tc.ts, tc.data)
			require.NoError(t, err)
			require.Equal(t, append(prefix, tc.want...), got)

			hdr := make([]byte, TagHeaderSize)
			PutTagHeader(hdr, tc.typ, tc.ts, len(tc.data))
			require.Equal(t, tc.want[:TagHeaderSize], hdr)

			h, err := ParseTagHeader(hdr)
			require.NoError(t, err)
			require.Equal(t, TagHeader{Type: tc.typ, DataSize: len(tc.data), Timestamp: tc.ts}, h)
		})
	}
}

func TestAppendTagSizes(t *testing.T) {
	big := make([]byte, MaxTagDataSize+1)
	dst := []byte{1, 2, 3}
	got, err := AppendTag(dst, TagVideo, 0, big)
	require.ErrorIs(t, err, ErrTagTooLarge)
	require.Equal(t, []byte{1, 2, 3}, got, "dst is returned unchanged")

	got, err = AppendTag(nil, TagVideo, 0, big[:MaxTagDataSize])
	require.NoError(t, err)
	require.Len(t, got, TagHeaderSize+MaxTagDataSize+PrevSizeLength)
	require.Equal(t, []byte{9, 0xff, 0xff, 0xff}, got[:4])
	require.Equal(t, []byte{0x01, 0x00, 0x00, 0x0a}, got[len(got)-4:])
}

func TestPutTagHeaderOverwrites(t *testing.T) {
	b := bytes.Repeat([]byte{0xee}, TagHeaderSize)
	PutTagHeader(b, TagAudio, 0xff000001, 0x010203)
	require.Equal(t, []byte{8, 1, 2, 3, 0, 0, 1, 0xff, 0, 0, 0}, b)
	require.Panics(t, func() { PutTagHeader(make([]byte, TagHeaderSize-1), TagAudio, 0, 0) })
}

func TestParseTagHeader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		want    TagHeader
		wantErr string
	}{
		{
			name: "video",
			in:   []byte{9, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0, 0, 0},
			want: TagHeader{Type: TagVideo, DataSize: 0x010203, Timestamp: 0x07040506},
		},
		{
			name: "filter bit",
			in:   []byte{0x20 | 8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},
			want: TagHeader{Type: TagAudio, DataSize: 1, Filter: true},
		},
		{
			name: "longer input reads 11 bytes",
			in:   []byte{18, 0, 0, 5, 0, 0, 9, 0, 0, 0, 0, 0xff, 0xff},
			want: TagHeader{Type: TagScript, DataSize: 5, Timestamp: 9},
		},
		{name: "empty", in: nil, wantErr: "flv: tag header: 0 bytes, need 11"},
		{name: "ten bytes", in: make([]byte, 10), wantErr: "flv: tag header: 10 bytes, need 11"},
		{name: "type 0", in: make([]byte, 11), wantErr: "flv: unknown tag type 0"},
		{name: "type 7", in: []byte{7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, wantErr: "flv: unknown tag type 7"},
		{name: "type 31", in: []byte{31, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, wantErr: "flv: unknown tag type 31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseTagHeader(tc.in)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, h)
		})
	}
}
