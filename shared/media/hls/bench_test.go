package hls

import (
	"testing"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

// BenchmarkSegmenter is the MPEG-TS packager's cost per hub packet (one FLV tag:
// a video frame or an AAC frame) on the 4 s fixture, looped with growing
// timestamps: ns/op and allocs/op are per packet. Segment buffers are allocated
// once per segment, so allocs/op stays well under 1.
//
//	go test -run x -bench Segmenter -benchmem ./shared/media/hls/
func BenchmarkSegmenter(b *testing.B) {
	tags := clip(b)
	var media []flv.Tag
	for _, t := range tags {
		if t.Type != flv.TagScript {
			media = append(media, t)
		}
	}
	var bytes int64
	s := NewSegmenter("k", "k", 2*time.Second, 0, func(seg Segment) { bytes += int64(len(seg.Data)) })
	// headers first, outside the loop
	for _, t := range media[:2] {
		s.WriteTag(t.Type, t.Timestamp, t.Data)
	}
	frames := media[2:]
	in := 0
	for _, t := range frames {
		in += len(t.Data)
	}
	b.SetBytes(int64(in / len(frames))) // MB/s of FLV payload packaged
	const clipMS = 4000
	b.ReportAllocs()
	b.ResetTimer()
	loop := uint32(0)
	for i := 0; i < b.N; i++ {
		j := i % len(frames)
		if j == 0 && i > 0 {
			loop++
		}
		t := frames[j]
		s.WriteTag(t.Type, t.Timestamp+loop*clipMS, t.Data)
	}
	b.StopTimer()
	if s.Errors != 0 {
		b.Fatalf("%d errors", s.Errors)
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "TSbytes/op")
}
