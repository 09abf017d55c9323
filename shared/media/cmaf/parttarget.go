package cmaf

import "slices"

// The advertised part target.
//
// RFC 8216bis (4.4.4.9, EXT-X-PART) asks every Partial Segment to last at most
// the Part Target Duration and, except for parts marked INDEPENDENT=YES and the
// last part of a Parent Segment, at least 85 % of it; PART-TARGET must not change
// during a stream. Parts can only be cut between frames, so a configured target
// (200 ms) is reachable only when the frame interval divides it: 29.97 fps makes
// parts of 5 frames (167 ms, 83 %) or 6 (200.2 ms, too long). The packager
// therefore learns the leading track's frame interval from the first frames (or,
// for audio-only streams, from the AAC frame length and sample rate), chooses the
// whole number of frames closest to the configured target and advertises the
// longest such a part can last on the stream's millisecond clock. Parts are then
// filled greedily up to that value, never beyond it.

// learnIntervals is how many leading-track frame intervals are looked at, at most,
// before the part target is chosen (fewer when the first part is due earlier).
const learnIntervals = 8

// partTargetFor returns the PART-TARGET (ms) for a leading video track whose
// first frame intervals (ms, on the FLV millisecond clock) are d: the whole number
// of frames closest to want, times the longest interval one frame can take. A
// frame rate whose interval is not a whole number of milliseconds shows intervals
// of floor and ceil (33 and 34 ms at 29.97 fps), so the longest is the largest
// interval seen; when every interval was the same, one millisecond is added, so a
// clock that is slightly off (40.1 ms shown as 40 for a while) or the occasional
// 1 ms of jitter never pushes a whole-frames part past the target. limit (the
// segment target) bounds the result when it allows one frame. Intervals more than
// 1 ms away from the median (a dropped frame, a stall) are ignored.
func partTargetFor(d []int64, want, limit int64) int64 {
	if len(d) == 0 {
		return want
	}
	s := slices.Clone(d)
	slices.Sort(s)
	med := s[(len(s)-1)/2]
	var sum, n, hi int64
	for _, x := range s {
		if x >= med-1 && x <= med+1 {
			sum += x
			n++
			hi = max(hi, x)
		}
	}
	mean := float64(sum) / float64(n)
	hi = max(hi, sum/n+1, 1)
	frames := closestFrames(float64(want), mean)
	if limit >= hi {
		frames = min(frames, limit/hi)
	}
	return frames * hi
}

// audioPartTargetFor is partTargetFor for an audio-only stream: AAC frames of
// frameTicks samples at rate Hz. Their length is exact, so the target is the
// whole number of frames closest to want, rounded up to the millisecond (9
// frames at 44.1 kHz: 208.98 ms, advertised 209 ms).
func audioPartTargetFor(frameTicks, rate int, want, limit int64) int64 {
	if frameTicks <= 0 || rate <= 0 {
		return want
	}
	exact := float64(frameTicks) * 1000 / float64(rate)
	frames := closestFrames(float64(want), exact)
	ms := func(n int64) int64 { return (n*int64(frameTicks)*1000 + int64(rate) - 1) / int64(rate) }
	for frames > 1 && ms(frames) > limit {
		frames--
	}
	return ms(frames)
}

// closestFrames is the whole number of frames of length interval (at least one)
// whose total is closest to want; on a tie, the shorter.
func closestFrames(want, interval float64) int64 {
	if interval <= 0 {
		return 1
	}
	n := int64(want / interval)
	if n < 1 {
		return 1
	}
	if below, above := want-float64(n)*interval, float64(n+1)*interval-want; above < below {
		n++
	}
	return n
}

// learner collects the leading track's first frame intervals.
type learner struct {
	d [learnIntervals]int64
	n int
}

func (l *learner) add(d int64) {
	if l.n < len(l.d) {
		l.d[l.n] = d
		l.n++
	}
}

func (l *learner) intervals() []int64 { return l.d[:l.n] }

// ready reports whether enough intervals were seen to choose the target: all of
// them, or as many as fit the configured target (the first part is due).
func (l *learner) ready(want int64) bool {
	if l.n == 0 {
		return false
	}
	if l.n >= len(l.d) {
		return true
	}
	s := l.d // a copy
	slices.Sort(s[:l.n])
	return int64(l.n+1)*s[(l.n-1)/2] > want
}
