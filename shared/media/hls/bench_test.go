package hls

import (
	"testing"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
)

// benchFrames is the 4 s fixture's media tags, the two sequence headers first.
// With videoBytes > 0 every video frame is padded with a filler NAL unit to
// about that many bytes (5,000 at 25 fps: a 1 Mbit/s camera), so the muxer
// copies what a real camera's frames would make it copy.
func benchFrames(b *testing.B, videoBytes int) (headers, frames []flv.Tag) {
	var m []flv.Tag
	for _, t := range clip(b) {
		if t.Type == flv.TagScript {
			continue
		}
		if v, err := flv.ParseVideo(t.Data); err == nil && t.Type == flv.TagVideo && v.PacketType == flv.VideoFrames && len(t.Data) < videoBytes {
			n := videoBytes - len(t.Data) - 4
			fill := make([]byte, 4+n)
			fill[0], fill[1], fill[2], fill[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
			fill[4] = 12 // filler data
			for i := 5; i < len(fill)-1; i++ {
				fill[i] = 0xFF
			}
			fill[len(fill)-1] = 0x80
			t.Data = append(append([]byte(nil), t.Data...), fill...)
		}
		m = append(m, t)
	}
	return m[:2], m[2:]
}

// benchSizes are the streams the benchmarks run on: the fixture as it is (160x120,
// about 60 kbit/s) and padded to a 1 Mbit/s camera.
var benchSizes = []struct {
	name       string
	videoBytes int
}{{"clip", 0}, {"1Mbps", 5000}}

// benchSegmenter runs the frames through a segmenter, looped with growing
// timestamps, b.N packets: ns/op and allocs/op are per hub packet (one FLV tag:
// a video frame or an AAC frame).
func benchSegmenter(b *testing.B, w tagWriter, headers, frames []flv.Tag) {
	for _, t := range headers {
		w.WriteTag(t.Type, t.Timestamp, t.Data)
	}
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
		w.WriteTag(t.Type, t.Timestamp+loop*clipMS, t.Data)
	}
	b.StopTimer()
}

// BenchmarkSegmenter is the MPEG-TS packager's cost per hub packet on the 4 s
// fixture when nobody asks for the segments: frames are checked, counted in TS
// packets and collected, never muxed (see BenchmarkMuxSegment for the muxing).
// The frame slices are allocated once per segment, so allocs/op stays well under 1.
// TSbytes/op is the size the segments would have, computed without muxing.
//
//	go test -run x -bench 'Segmenter|MuxSegment' -benchmem -count 6 ./shared/media/hls/
func BenchmarkSegmenter(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			headers, frames := benchFrames(b, sz.videoBytes)
			var size int64
			s := NewSegmenter("k", "k", 2*time.Second, 0, func(seg Segment) { size += int64(seg.Size()) })
			benchSegmenter(b, s, headers, frames)
			if s.Errors != 0 {
				b.Fatalf("%d errors", s.Errors)
			}
			b.ReportMetric(float64(size)/float64(b.N), "TSbytes/op")
		})
	}
}

// BenchmarkEagerSegmenter is BenchmarkSegmenter for the segmenter as it was
// before muxing went lazy (eager_test.go): every frame muxed as it arrives, what
// every segment cost before. A segment that is muxed now costs BenchmarkSegmenter
// per packet plus BenchmarkMuxSegment per segment.
func BenchmarkEagerSegmenter(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			headers, frames := benchFrames(b, sz.videoBytes)
			var size int64
			s := newEagerSegmenter(2*time.Second, func(seg eagerSegment) { size += int64(len(seg.data)) })
			benchSegmenter(b, s, headers, frames)
			if s.Errors != 0 {
				b.Fatalf("%d errors", s.Errors)
			}
			b.ReportMetric(float64(size)/float64(b.N), "TSbytes/op")
		})
	}
}

// BenchmarkMuxSegment is the cost of producing one 2 s segment's bytes on demand
// (the first request for it, or the recorder): ns/op per segment, MB/s of TS
// bytes written, one allocation of the exact size plus the muxer's scratch.
func BenchmarkMuxSegment(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			headers, frames := benchFrames(b, sz.videoBytes)
			var segs []Segment
			s := NewSegmenter("k", "k", 2*time.Second, 0, func(seg Segment) { segs = append(segs, seg) })
			for _, t := range append(headers, frames...) {
				s.WriteTag(t.Type, t.Timestamp, t.Data)
			}
			s.Flush()
			if s.Errors != 0 || len(segs) == 0 {
				b.Fatalf("%d errors, %d segments", s.Errors, len(segs))
			}
			body := segs[0].body
			b.SetBytes(int64(body.size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if data := body.render(); len(data) != body.size {
					b.Fatalf("muxed %d bytes, sized %d", len(data), body.size)
				}
			}
		})
	}
}
