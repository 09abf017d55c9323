package hub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// BenchmarkFanout publishes b.N video frames of 11 KB (a 2.67 Mbit/s stream at
// 30 fps) into one stream read by n subscribers, and reports the cost per frame
// delivered to one subscriber. It measures the hub alone: locking, wake-ups and
// batching, no sockets.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		for _, merge := range []time.Duration{0, 20 * time.Millisecond} {
			b.Run(fmt.Sprintf("subs=%d/merge=%s", n, merge), func(b *testing.B) {
				benchFanout(b, n, merge)
			})
		}
	}
}

func benchFanout(b *testing.B, n int, merge time.Duration) {
	h := New(Config{ReconnectWindow: -1, MergeWindow: merge, MaxLag: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p, err := h.Publish("b", PublishOptions{})
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, 11_000)
	copy(frame, keyframe())
	if err := p.WriteVideo(0, avcHeader); err != nil {
		b.Fatal(err)
	}
	if err := p.WriteVideo(0, frame); err != nil {
		b.Fatal(err)
	}
	inter := make([]byte, 11_000)
	copy(inter, []byte{0x27, 1, 0, 0, 0})
	var wg sync.WaitGroup
	ctx := context.Background()
	var batches [1]int64
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		sub, err := h.Subscribe("b", SubscribeOptions{Merge: true})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			var pkts []*Packet
			reads := int64(0)
			for {
				var err error
				pkts, err = sub.Read(ctx, pkts)
				reads++
				if err != nil {
					mu.Lock()
					batches[0] += reads
					mu.Unlock()
					return
				}
			}
		}()
	}
	b.SetBytes(int64(len(inter)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.WriteVideo(uint32(33*(i+1)), inter); err != nil {
			b.Fatal(err)
		}
	}
	p.Close("done")
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/frame/sub")
	b.ReportMetric(float64(batches[0])/float64(n), "reads/sub")
}
