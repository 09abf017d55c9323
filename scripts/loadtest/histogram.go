package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram counts durations in log-linear buckets: exact microseconds below
// 128 µs, then 64 buckets per power of two (at most 1.6 % wide) up to
// histMax. It is fixed size (about 5 KB), so each viewer owns one and records
// without allocating or locking; the step merges them at the end.
type histogram struct {
	counts [histBuckets]uint32
	n      uint64
	max    int64 // µs, exact
	sum    int64 // µs
}

const (
	histSubBits = 7 // 2^7 = 128 exact buckets, then 64 per octave
	histSub     = 1 << histSubBits
	histHalf    = histSub / 2
	// histMax is the largest value kept apart; larger values land in the last bucket.
	histMax     = int64(64 * time.Second / time.Microsecond)
	histBuckets = 1344 // bucketOf(histMax)+1, checked by a test
)

// bucketOf maps a value in µs (0 ≤ v ≤ histMax) to its bucket.
func bucketOf(v int64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits // ≥ 1
	top := int(v >> shift)                       // in [64, 128)
	return histSub + (shift-1)*histHalf + (top - histHalf)
}

// bucketBounds returns the smallest and largest value bucket i holds.
func bucketBounds(i int) (lo, hi int64) {
	if i < histSub {
		return int64(i), int64(i)
	}
	shift := (i-histSub)/histHalf + 1
	top := int64((i-histSub)%histHalf + histHalf)
	return top << shift, (top+1)<<shift - 1
}

// Record adds one duration.
func (h *histogram) Record(d time.Duration) {
	v := int64(d / time.Microsecond)
	if v < 0 {
		v = 0
	}
	if v > h.max {
		h.max = v
	}
	h.sum += v
	h.n++
	if v > histMax {
		v = histMax
	}
	h.counts[bucketOf(v)]++
}

// Count is the number of recorded values.
func (h *histogram) Count() uint64 { return h.n }

// Max is the largest recorded value.
func (h *histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Mean is the average recorded value.
func (h *histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/int64(h.n)) * time.Microsecond
}

// Merge adds o's counts to h.
func (h *histogram) Merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Quantile returns the value below or at which a fraction q (0-1) of the
// recorded values fall (nearest rank), as the highest value of its bucket, so
// it is never below the true quantile by more than the bucket width and never
// above the maximum.
func (h *histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			_, hi := bucketBounds(i)
			if i == bucketOf(histMax) { // also holds everything beyond the range
				hi = h.max
			}
			return time.Duration(min(hi, h.max)) * time.Microsecond
		}
	}
	return h.Max()
}
