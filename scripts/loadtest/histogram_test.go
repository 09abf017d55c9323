package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBuckets(t *testing.T) {
	require.Equal(t, histBuckets-1, bucketOf(1<<26-1), "histBuckets covers every value below 2^26 µs")
	require.Less(t, bucketOf(histMax), histBuckets)
	prevHi := int64(-1)
	for i := range histBuckets {
		lo, hi := bucketBounds(i)
		require.Equal(t, prevHi+1, lo, "bucket %d starts where %d ends", i, i-1)
		require.Equal(t, i, bucketOf(lo), "lo of bucket %d", i)
		require.Equal(t, i, bucketOf(hi), "hi of bucket %d", i)
		if lo >= histSub {
			require.LessOrEqual(t, float64(hi-lo+1)/float64(lo), 1.0/64, "bucket %d is at most 1/64 wide", i)
		}
		prevHi = hi
	}
}

func TestHistogramQuantiles(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		values  []time.Duration
		q       float64
		want    time.Duration
		slackUS int64 // bucket width allowed above want
	}{
		{"empty", nil, 0.5, 0, 0},
		{"single", []time.Duration{7 * ms}, 0.99, 7 * ms, 0},
		{"exact below 128 µs", []time.Duration{10 * time.Microsecond, 20 * time.Microsecond, 30 * time.Microsecond, 40 * time.Microsecond}, 0.5, 20 * time.Microsecond, 0},
		{"p50 of 1..100 ms", seq(1, 100, ms), 0.50, 50 * ms, 50_000 / 64},
		{"p99 of 1..100 ms", seq(1, 100, ms), 0.99, 99 * ms, 99_000 / 64},
		{"p100 is the max", seq(1, 100, ms), 1, 100 * ms, 0},
		{"p0 is the min", seq(1, 100, ms), 0, 1 * ms, 1000 / 64},
		{"outlier does not move p50", append(seq(1, 99, ms), 9*time.Second), 0.5, 50 * ms, 50_000 / 64},
		{"outlier is p100", append(seq(1, 99, ms), 9*time.Second), 1, 9 * time.Second, 0},
		{"beyond the range keeps the exact max", []time.Duration{2 * time.Minute}, 1, 2 * time.Minute, 0},
		{"negative counts as 0", []time.Duration{-5 * ms}, 0.5, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, v := range tt.values {
				h.Record(v)
			}
			got := h.Quantile(tt.q)
			require.GreaterOrEqual(t, got, tt.want)
			require.LessOrEqual(t, got, tt.want+time.Duration(tt.slackUS)*time.Microsecond)
			require.Equal(t, uint64(len(tt.values)), h.Count())
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all histogram
	for i, v := range seq(1, 1000, time.Millisecond) {
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(&b)
	require.Equal(t, all, a)
	require.Equal(t, 500*time.Millisecond+500*time.Microsecond, a.Mean())
	require.Equal(t, time.Second, a.Max())
}

func seq(from, to int, unit time.Duration) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*unit)
	}
	return out
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h histogram
	d := 3 * time.Millisecond
	for b.Loop() {
		h.Record(d)
		d += 7 * time.Microsecond
	}
}
