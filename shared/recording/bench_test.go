package recording

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/livestack/livestack/shared/media/hub"
)

// BenchmarkRecordMP4 records 12 s of 320x240 H.264 + AAC per iteration
// through the whole path (hub subscriber, journal with fsync per fragment,
// conversion to MP4, upload to fsblob, index in boltstore) and reports the
// cost per second of media: the recording share of "publishers with
// recording on" in docs/performance.md. Run it on a quiet machine:
//
//	go test -run XXX -bench RecordMP4 -benchtime 20x ./shared/recording/
func BenchmarkRecordMP4(b *testing.B) {
	tags := fixture(b, 12, 50)
	e := newEnv(b, "", func(c *Config) { c.FragmentDuration = time.Second })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch := testChannel(fmt.Sprintf("bench%d", i), 5, false)
		pub, err := e.hub.Publish(ch.ID, hub.PublishOptions{})
		if err != nil {
			b.Fatal(err)
		}
		e.rec.StreamStarted(context.Background(), ch, pub.Stream())
		publish(b, pub, tags, 0, 0)
		pub.Close("done")
		select {
		case <-e.ready:
		case <-time.After(30 * time.Second):
			b.Fatal("recording not ready")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/12/1e6, "wall-ms/media-s")
}
