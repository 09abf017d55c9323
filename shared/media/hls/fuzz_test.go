package hls

import (
	"testing"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

func FuzzParseSegmentName(f *testing.F) {
	for _, s := range []string{"stok-0.ts", "stok-123.ts", "stok-01.ts", "s-1.ts", "stok-.ts", "stok-18446744073709551615.ts"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		seq, ok := parseSegmentName(name, "tok")
		if ok && name != "stok-"+itoa(seq)+".ts" {
			t.Fatalf("%q parsed as %d", name, seq)
		}
	})
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// FuzzSegmenterTags feeds arbitrary tag payloads (untrusted publisher bytes) after
// a valid start: the segmenter must not panic, must emit only whole TS packets,
// and its segments, muxed on demand, must be the eager muxer's bytes with the
// size announced before muxing.
func FuzzSegmenterTags(f *testing.F) {
	tags := clip(f)
	for i, tag := range tags {
		if i > 12 {
			break
		}
		f.Add(uint8(tag.Type), tag.Timestamp, tag.Data)
	}
	f.Add(uint8(flv.TagVideo), uint32(5000), []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65})
	f.Add(uint8(flv.TagAudio), uint32(5000), []byte{0xAF, 0, 0xFF})
	f.Add(uint8(flv.TagVideo), uint32(500), []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1F, 0xFD, 0xE1, 0, 4, 0x67, 0x64, 0, 0x1F, 1, 0, 2, 0x68, 0xEE})
	f.Fuzz(func(t *testing.T, typ uint8, ts uint32, data []byte) {
		requireSameAsEager(t, time.Second, func(w tagWriter) {
			for _, tag := range tags[:40] {
				w.WriteTag(tag.Type, tag.Timestamp, tag.Data)
			}
			w.WriteTag(flv.TagType(typ), ts, data)
			for _, tag := range tags[40:80] {
				w.WriteTag(tag.Type, tag.Timestamp+ts, tag.Data)
			}
		})
	})
}
