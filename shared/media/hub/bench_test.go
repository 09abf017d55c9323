package hub

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/livestack/livestack/shared/media/flv"
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

// BenchmarkRetainedGC measures one full GC cycle over the packets a loaded
// server keeps alive: 200 streams × 20 s (the HLS window a packager holds) of
// a 1 Mbit/s camera, 30 video frames (4.2 KB) and 43 audio frames (280 bytes)
// a second, allocated one by one ("each", how the hub allocated before
// packetAlloc) or from a publisher's blocks ("blocks"). The GC's cost follows
// the objects it visits, not the bytes; ns/op is one runtime.GC. Pointer-free
// filler is allocated between packets, as the rest of a server does, so the
// one-by-one packets are not laid out in order.
func BenchmarkRetainedGC(b *testing.B) {
	const streams, seconds = 200, 20
	video, audio := make([]byte, 4200), make([]byte, 280)
	for _, mode := range []string{"each", "blocks"} {
		b.Run("alloc="+mode, func(b *testing.B) {
			kept := make([][]*Packet, streams)
			allocs := make([]packetAlloc, streams)
			var filler [][]byte
			for t := 0; t < seconds*30; t++ {
				for s := range kept {
					for _, f := range [][]byte{video, audio, audio} {
						if len(f) == len(audio) && t%7 == 0 {
							continue // 43 audio frames a second, not 60
						}
						var p *Packet
						if mode == "each" {
							p = newPacket(flv.TagVideo, uint32(t*33), f)
						} else {
							p = allocs[s].packet(flv.TagVideo, uint32(t*33), f)
						}
						kept[s] = append(kept[s], p)
					}
					if t%10 == 0 {
						filler = append(filler, make([]byte, 64))
					}
				}
			}
			runtime.GC()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				runtime.GC()
			}
			b.StopTimer()
			var n int
			for _, k := range kept {
				n += len(k)
			}
			b.ReportMetric(float64(n), "packets")
			runtime.KeepAlive(kept)
			runtime.KeepAlive(filler)
		})
	}
}
