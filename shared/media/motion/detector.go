// Package motion records clips of live streams when something moves (a
// channel's recording.motion settings, the earlier solution's isMotion,
// motion_percent, motion_diff, motion_timeout, motion_duration).
//
// Detection is cheap: a long-lived ffmpeg per stream decodes the video into a
// tiny grayscale picture a few times a second (`fps=5,scale=160:120,format=gray`,
// raw bytes on stdout), and Go compares each picture with the previous one:
// the share of pixels whose brightness changed by more than Diff, above
// Percent, is motion. ffmpeg is restarted with backoff if it dies.
//
// Recording is a remux: the packets of the last seconds are kept in memory
// (pre-roll, starting on a keyframe); on motion they and everything after go
// to a spool file until Timeout seconds after the last motion, then ffmpeg
// copies the spool into an MP4 (-c copy, no re-encode). The clip and a JPG of
// the first keyframe after the motion began are stored in the blob store and
// indexed as one recording of kind motion.
package motion

// Detector compares consecutive grayscale frames of one size.
type Detector struct {
	// Diff is the brightness change (0-255) above which a pixel counts as changed.
	Diff int
	// Percent is the share of changed pixels (0-100) above which a frame is motion.
	Percent float64
	prev    []byte
}

// Feed compares frame with the previous one and reports the percentage of
// changed pixels and whether it is motion. The first frame, and a frame whose
// size differs from the previous one, only become the reference.
func (d *Detector) Feed(frame []byte) (changed float64, motion bool) {
	if len(d.prev) != len(frame) || len(frame) == 0 {
		d.prev = append(d.prev[:0], frame...)
		return 0, false
	}
	changed = ChangedPercent(d.prev, frame, d.Diff)
	copy(d.prev, frame)
	return changed, changed > d.Percent
}

// Reset forgets the reference frame (after a decoder restart).
func (d *Detector) Reset() { d.prev = d.prev[:0] }

// ChangedPercent returns the percentage of positions where a and b differ by
// more than diff. a and b must have the same length.
func ChangedPercent(a, b []byte, diff int) float64 {
	if len(a) == 0 || len(a) != len(b) {
		return 0
	}
	n := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d > diff || -d > diff {
			n++
		}
	}
	return 100 * float64(n) / float64(len(a))
}
