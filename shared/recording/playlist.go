package recording

import (
	"fmt"
	"math"
	"strings"
)

// renderPlaylist writes the HLS VOD playlist of the uploaded segments, in
// order, stopping at the first one not uploaded yet so that the playlist never
// names a missing object. While the recording goes on it is an EVENT playlist
// (players may watch it grow); the final one is a VOD playlist ending with
// EXT-X-ENDLIST. Written by hand: it is a dozen lines, and gohlslib's
// playlist types are built for the live muxer's own segments.
func renderPlaylist(h header, files []*fileEntry, final bool) string {
	target := max(h.TargetSeconds, 1)
	var segs []*fileEntry
files:
	for _, f := range files {
		switch f.State {
		case stateDropped:
			continue
		case stateUploaded:
			segs = append(segs, f)
			if d := int(math.Ceil(float64(f.DurationMillis) / 1000)); d > target {
				target = d
			}
			continue
		}
		break files
	}
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n")
	if final {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	} else {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n")
	}
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n", target)
	for i, f := range segs {
		if f.Discontinuity && i > 0 {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if !f.ProgramDate.IsZero() {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", f.ProgramDate.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n", float64(f.DurationMillis)/1000, f.Name)
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}
