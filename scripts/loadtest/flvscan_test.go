package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

// testTag is a tag of a synthetic stream.
type testTag struct {
	typ  flv.TagType
	ts   uint32
	data []byte
}

// testStream is a small H.264/AAC-shaped FLV: metadata, sequence headers, a
// keyframe, inter frames and audio, with payloads big enough to straddle reads.
func testStream() []testTag {
	big := bytes.Repeat([]byte{0xab}, 3000)
	return []testTag{
		{flv.TagScript, 0, []byte{2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}},
		{flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f}},          // AVC sequence header
		{flv.TagAudio, 0, []byte{0xaf, 0, 0x12, 0x10}},                         // AAC sequence header
		{flv.TagVideo, 0, append([]byte{0x17, 1, 0, 0, 0x43}, big...)},         // keyframe
		{flv.TagAudio, 23, append([]byte{0xaf, 1}, big[:300]...)},              // AAC frame
		{flv.TagVideo, 33, append([]byte{0x27, 1, 0, 0, 0x43}, big[:1200]...)}, // inter frame
		{flv.TagVideo, 67, []byte{0x27, 1, 0, 0}},                              // too short to decode: neither key nor header
		{flv.TagAudio, 46, []byte{0xaf}},                                       // ditto
		{flv.TagVideo, 0x01000064, []byte{0x17, 1, 0, 0, 0, 1}},                // extended timestamp
	}
}

func wantScanned() []scannedTag {
	var out []scannedTag
	for _, t := range testStream() {
		s := scannedTag{Type: t.typ, Timestamp: t.ts, Size: len(t.data)}
		if len(t.data) >= 5 && t.typ == flv.TagVideo {
			s.Header = t.data[1] == 0
			s.Keyframe = t.data[0]>>4 == 1 && t.data[1] == 1
		}
		if len(t.data) >= 2 && t.typ == flv.TagAudio {
			s.Header = t.data[1] == 0
		}
		out = append(out, s)
	}
	return out
}

func flvBody(t testing.TB, tags []testTag) []byte {
	b := flv.Header(true, true)
	for _, tag := range tags {
		var err error
		b, err = flv.AppendTag(b, tag.typ, tag.ts, tag.data)
		require.NoError(t, err)
	}
	return b
}

// chunk encodes body as HTTP chunks of at most size bytes, with an extension on the first.
func chunk(body []byte, size int, last bool) []byte {
	var out []byte
	for i := 0; len(body) > 0; i++ {
		n := min(size, len(body))
		out = strconv.AppendInt(out, int64(n), 16)
		if i == 0 {
			out = append(out, ";ext=1"...)
		}
		out = append(out, "\r\n"...)
		out = append(out, body[:n]...)
		out = append(out, "\r\n"...)
		body = body[n:]
	}
	if last {
		out = append(out, "0\r\n\r\n"...)
	}
	return out
}

const (
	chunkedHead = "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	rawHead     = "HTTP/1.0 200 OK\r\nContent-Type: video/x-flv\r\n\r\n"
)

// scanAll feeds resp to a scanner in pieces of step bytes.
func scanAll(resp []byte, step int) ([]scannedTag, error) {
	var sc scanner
	var all []scannedTag
	for len(resp) > 0 {
		n := min(step, len(resp))
		tags, err := sc.Feed(resp[:n], nil)
		all = append(all, tags...)
		if err != nil {
			return all, err
		}
		resp = resp[n:]
	}
	return all, nil
}

func TestScanner(t *testing.T) {
	body := flvBody(t, testStream())
	tests := []struct {
		name string
		resp []byte
		err  error
	}{
		{"chunked, one chunk", append([]byte(chunkedHead), chunk(body, len(body), false)...), nil},
		{"chunked, small chunks", append([]byte(chunkedHead), chunk(body, 7, false)...), nil},
		{"chunked, last chunk", append([]byte(chunkedHead), chunk(body, 1000, true)...), io.EOF},
		{"not chunked", append([]byte(rawHead), body...), nil},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 3, 11, 100, 4096, len(tt.resp)} {
			t.Run(fmt.Sprintf("%s/read %d", tt.name, step), func(t *testing.T) {
				got, err := scanAll(tt.resp, step)
				require.Equal(t, tt.err, err)
				require.Equal(t, wantScanned(), got)
			})
		}
	}
}

func TestScannerErrors(t *testing.T) {
	body := flvBody(t, testStream()[:4])
	badPrev := bytes.Clone(body)
	badPrev[len(badPrev)-1]++
	tests := []struct {
		name string
		resp string
		err  string
	}{
		{"status", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "http status 404"},
		{"content type", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", "content type"},
		{"garbage header", "FLV\x01\x05\r\n\r\n", "response header"},
		{"signature", rawHead + "FLX\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00", "bad signature"},
		{"data offset", rawHead + "FLV\x01\x05\x00\x00\x00\x02\x00\x00\x00\x00", "bad data offset"},
		{"previous tag size", rawHead + string(badPrev), "previous tag size"},
		{"tag type", rawHead + string(body[:13]) + "\x07\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00", "unknown tag type"},
		{"stream id", rawHead + string(body[:13]) + "\x09\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01", "stream id"},
		{"chunk size", chunkedHead + "zz\r\n", "bad size line"},
		{"chunk size too long", chunkedHead + "1234567890abcdef0\r\n", "bad size line"},
		{"empty chunk size", chunkedHead + "\r\n", "malformed size line"},
		{"no CRLF after chunk", chunkedHead + "3\r\nFLVxx", "no CRLF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scanAll([]byte(tt.resp), 5)
			require.ErrorContains(t, err, tt.err)
		})
	}
	t.Run("endless header", func(t *testing.T) {
		_, err := scanAll(bytes.Repeat([]byte("X-A: b\r\n"), 3000), 1000)
		require.ErrorContains(t, err, "response header over")
	})
}

// FuzzScanner checks that the scanner never panics and that how the bytes
// are split into reads never changes what it finds.
func FuzzScanner(f *testing.F) {
	body := flvBody(f, testStream())
	f.Add(append([]byte(chunkedHead), chunk(body, 500, true)...), uint16(7))
	f.Add(append([]byte(rawHead), body...), uint16(1))
	f.Add([]byte(chunkedHead+"5\r\nFLV\x01\x05\r\n0\r\n\r\n"), uint16(3))
	f.Fuzz(func(t *testing.T, resp []byte, step uint16) {
		whole, werr := scanAll(resp, len(resp)+1)
		split, serr := scanAll(resp, int(step%512)+1)
		require.Equal(t, werr == nil, serr == nil, "whole: %v, split: %v", werr, serr)
		if werr == nil {
			require.Equal(t, whole, split)
		}
	})
}

func BenchmarkScanner(b *testing.B) {
	body := flvBody(b, testStream()[:6]) // well-formed tags only: odd ones build errors
	for len(body) < 1<<20 {
		body = append(body, body[13:]...) // more tags, same stream
	}
	resp := append([]byte(chunkedHead), chunk(body, 16<<10, false)...)
	b.SetBytes(int64(len(resp)))
	tags := make([]scannedTag, 0, 1024)
	for b.Loop() {
		var sc scanner
		for p := resp; len(p) > 0; {
			n := min(64<<10, len(p))
			var err error
			if tags, err = sc.Feed(p[:n], tags[:0]); err != nil {
				b.Fatal(err)
			}
			p = p[n:]
		}
	}
}
