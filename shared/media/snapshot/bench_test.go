package snapshot

import (
	"syscall"
	"testing"
	"time"
)

// childCPU is the user+system CPU of this process's waited-for children.
func childCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecoderCPU compares the CPU of one snapshot with a long-lived
// ffmpeg fed keyframes (Persistent) and with one ffmpeg per picture
// (OneShot), for a 720p and a 1080p H.264 stream with B-frames (the
// persistent decoder primes each keyframe 1+2 times). It reports
// cpu-ms/picture: ffmpeg's user+system time, the process start included.
// CPU s per stream-minute = cpu-ms/picture * (60 / snapshotSeconds) / 1000.
//
//	go test -run XXX -bench DecoderCPU -benchtime 20x ./shared/media/snapshot
func BenchmarkDecoderCPU(b *testing.B) {
	for _, size := range []string{"1280x720", "1920x1080"} {
		kfs := keyframes(encodeFLV(b, size, "4", "-bf", "2"))
		for _, mode := range []string{"persistent", "oneshot"} {
			b.Run(size+"/"+mode, func(b *testing.B) {
				var dec Decoder = NewOneShot(DecoderConfig{})
				if mode == "persistent" {
					dec = NewPersistent(DecoderConfig{})
				}
				before := childCPU(b)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := dec.Decode(b.Context(), kfs[i%len(kfs)]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				dec.Close() // waits for the persistent process, so its CPU is counted
				b.ReportMetric(float64((childCPU(b)-before).Microseconds())/1000/float64(b.N), "cpu-ms/picture")
			})
		}
	}
}
