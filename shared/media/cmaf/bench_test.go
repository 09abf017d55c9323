package cmaf

import (
	"testing"
	"time"
)

// BenchmarkPackager is the CMAF/LL-HLS packager's cost per hub packet (parts of
// 200 ms, segments of 2 s), playlists rendered lazily (no viewer here).
//
//	go test -run x -bench Packager -benchmem ./shared/media/cmaf/
func BenchmarkPackager(b *testing.B) {
	tags := clip(b)
	p := New("k", "tk", Config{SegmentDuration: 2 * time.Second})
	for _, t := range tags[:2] {
		p.WriteTag(t.Type, t.Timestamp, t.Data)
	}
	frames := tags[2:]
	b.ReportAllocs()
	b.ResetTimer()
	loop := uint32(0)
	for i := 0; i < b.N; i++ {
		j := i % len(frames)
		if j == 0 && i > 0 {
			loop++
		}
		t := frames[j]
		p.WriteTag(t.Type, t.Timestamp+loop*4000, t.Data)
	}
}
