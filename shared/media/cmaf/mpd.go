package cmaf

import (
	"strconv"
	"time"
)

// mpd renders a dynamic DASH manifest (ISO/IEC 23009-1, isoff-live profile) over
// the same fMP4 segments: one muxed representation, a SegmentTemplate with a
// SegmentTimeline in milliseconds and $Number$ equal to the HLS media sequence.
func (s *snapshot) mpd(now time.Time) []byte {
	segs, _ := s.window()
	gen := s.info.gen
	// only segments of the current init segment: a codec change starts anew
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].initGen != gen {
			segs = segs[i+1:]
			break
		}
	}
	if len(segs) == 0 {
		segs = s.done[len(s.done)-1:]
	}
	first := segs[0]
	ast := first.pdt.Add(-time.Duration(first.start) * time.Millisecond)
	var depth time.Duration
	for _, sg := range segs {
		depth += sg.duration
	}
	mime := "video/mp4"
	if s.info.width == 0 {
		mime = "audio/mp4"
	}
	bw := s.bitrate
	if bw <= 0 {
		bw = 1_000_000
	}
	iso := func(b []byte, t time.Time) []byte { return t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z") }
	dur := func(b []byte, d time.Duration) []byte {
		b = append(b, "PT"...)
		b = strconv.AppendFloat(b, d.Seconds(), 'f', 3, 64)
		return append(b, 'S')
	}
	target := time.Duration(s.targetDur) * time.Second
	b := make([]byte, 0, 1024+len(segs)*40)
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="`...)
	b = iso(b, ast)
	b = append(b, `" publishTime="`...)
	b = iso(b, now)
	b = append(b, `" minimumUpdatePeriod="`...)
	b = dur(b, target)
	b = append(b, `" minBufferTime="`...)
	b = dur(b, target)
	b = append(b, `" timeShiftBufferDepth="`...)
	b = dur(b, depth)
	b = append(b, `" suggestedPresentationDelay="`...)
	b = dur(b, 2*target)
	b = append(b, `">`+"\n"+`  <Period id="0" start="PT0S">`+"\n"+`    <AdaptationSet id="0" contentType="`...)
	b = append(b, mime[:5]...)
	b = append(b, `" mimeType="`...)
	b = append(b, mime...)
	b = append(b, `" segmentAlignment="true" startWithSAP="1">`+"\n"+`      <Representation id="0" codecs="`...)
	b = append(b, s.info.codecs...)
	b = append(b, `" bandwidth="`...)
	b = strconv.AppendInt(b, bw, 10)
	b = append(b, '"')
	if s.info.width > 0 {
		b = append(b, ` width="`...)
		b = strconv.AppendInt(b, int64(s.info.width), 10)
		b = append(b, `" height="`...)
		b = strconv.AppendInt(b, int64(s.info.height), 10)
		b = append(b, '"')
	}
	b = append(b, ">\n"+`        <SegmentTemplate timescale="1000" initialization="`...)
	b = s.initName(b, gen)
	b = append(b, `" media="c`...)
	b = append(b, s.token...)
	b = append(b, `-$Number$.m4s" startNumber="`...)
	b = strconv.AppendUint(b, first.msn, 10)
	b = append(b, `">`+"\n"+`          <SegmentTimeline>`+"\n"...)
	for _, sg := range segs {
		b = append(b, `            <S t="`...)
		b = strconv.AppendInt(b, sg.start, 10)
		b = append(b, `" d="`...)
		b = strconv.AppendInt(b, sg.duration.Milliseconds(), 10)
		b = append(b, `"/>`+"\n"...)
	}
	b = append(b, `          </SegmentTimeline>`+"\n        </SegmentTemplate>\n      </Representation>\n    </AdaptationSet>\n  </Period>\n</MPD>\n"...)
	return b
}
