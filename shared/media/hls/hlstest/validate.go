// Package hlstest parses and validates HLS playlists for livestack's tests: the
// rules a player relies on (target duration covers every rounded segment
// duration, sequence numbers only move forward, LL-HLS parts add up to their
// segment and stay within 85-100 % of the part target, program date-times agree with the
// durations). It is a small parser of untrusted text with its own fuzz target.
package hlstest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Part is one EXT-X-PART.
type Part struct {
	URI         string
	Duration    float64
	Independent bool
}

// Segment is one media segment with the tags before it.
type Segment struct {
	URI           string
	Duration      float64
	Discontinuity bool
	PDT           time.Time
	Map           string
	Parts         []Part
	Seq           uint64
}

// Media is a parsed media playlist.
type Media struct {
	Version        int
	TargetDuration int
	MediaSequence  uint64
	DiscSequence   uint64
	PartTarget     float64
	PartHoldBack   float64
	CanBlockReload bool
	Independent    bool
	Segments       []Segment
	// Trailing holds the parts of the open segment (after the last EXTINF).
	Trailing    []Part
	PreloadHint string
	EndList     bool
}

// Variant is one EXT-X-STREAM-INF of a multivariant playlist.
type Variant struct {
	URI        string
	Bandwidth  int
	Codecs     string
	Resolution string
}

// attrs parses an attribute list (KEY=VALUE,KEY="quoted, value").
func attrs(s string) (map[string]string, error) {
	m := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("attribute list %q: missing =", s)
		}
		k := s[:eq]
		s = s[eq+1:]
		var v string
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("attribute %s: unterminated quote", k)
			}
			v, s = s[1:end+1], s[end+2:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v, s = s[:end], s[end:]
		}
		m[k] = v
		if s != "" {
			if s[0] != ',' {
				return nil, fmt.Errorf("attribute %s: junk after value", k)
			}
			s = s[1:]
		}
	}
	return m, nil
}

func num(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return f, nil
}

// ParseMedia parses a media playlist.
func ParseMedia(b []byte) (*Media, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	m := &Media{}
	var cur Segment
	var curMap string
	var haveInf, first = false, true
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if first {
			if line != "#EXTM3U" {
				return nil, errors.New("missing #EXTM3U")
			}
			first = false
			continue
		}
		if line == "" {
			continue
		}
		tag, val, _ := strings.Cut(line, ":")
		var err error
		switch {
		case !strings.HasPrefix(line, "#"):
			if !haveInf {
				return nil, fmt.Errorf("URI %q without EXTINF", line)
			}
			cur.URI = line
			cur.Map = curMap
			cur.Seq = m.MediaSequence + uint64(len(m.Segments))
			m.Segments = append(m.Segments, cur)
			cur, haveInf = Segment{}, false
		case tag == "#EXT-X-VERSION":
			m.Version, err = strconv.Atoi(val)
		case tag == "#EXT-X-TARGETDURATION":
			m.TargetDuration, err = strconv.Atoi(val)
		case tag == "#EXT-X-MEDIA-SEQUENCE":
			m.MediaSequence, err = strconv.ParseUint(val, 10, 64)
		case tag == "#EXT-X-DISCONTINUITY-SEQUENCE":
			m.DiscSequence, err = strconv.ParseUint(val, 10, 64)
		case tag == "#EXT-X-INDEPENDENT-SEGMENTS":
			m.Independent = true
		case tag == "#EXT-X-ENDLIST":
			m.EndList = true
		case tag == "#EXT-X-DISCONTINUITY":
			cur.Discontinuity = true
		case tag == "#EXT-X-PROGRAM-DATE-TIME":
			cur.PDT, err = time.Parse(time.RFC3339Nano, val)
		case tag == "#EXT-X-MAP":
			var a map[string]string
			if a, err = attrs(val); err == nil {
				curMap = a["URI"]
			}
		case tag == "#EXTINF":
			d, _, _ := strings.Cut(val, ",")
			cur.Duration, err = num(d)
			haveInf = true
		case tag == "#EXT-X-PART-INF":
			var a map[string]string
			if a, err = attrs(val); err == nil {
				m.PartTarget, err = num(a["PART-TARGET"])
			}
		case tag == "#EXT-X-SERVER-CONTROL":
			var a map[string]string
			if a, err = attrs(val); err == nil {
				m.CanBlockReload = a["CAN-BLOCK-RELOAD"] == "YES"
				if v, ok := a["PART-HOLD-BACK"]; ok {
					m.PartHoldBack, err = num(v)
				}
			}
		case tag == "#EXT-X-PART":
			var a map[string]string
			if a, err = attrs(val); err == nil {
				var p Part
				p.URI, p.Independent = a["URI"], a["INDEPENDENT"] == "YES"
				if p.Duration, err = num(a["DURATION"]); err == nil {
					if p.URI == "" {
						err = errors.New("EXT-X-PART without URI")
					}
					cur.Parts = append(cur.Parts, p)
				}
			}
		case tag == "#EXT-X-PRELOAD-HINT":
			var a map[string]string
			if a, err = attrs(val); err == nil {
				m.PreloadHint = a["URI"]
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tag, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if first {
		return nil, errors.New("empty playlist")
	}
	if haveInf {
		return nil, errors.New("EXTINF without URI at the end")
	}
	m.Trailing = cur.Parts
	return m, nil
}

// Validate checks the rules every playlist livestack serves must keep.
func (m *Media) Validate() error {
	if m.TargetDuration <= 0 {
		return errors.New("no EXT-X-TARGETDURATION")
	}
	if len(m.Segments) == 0 && len(m.Trailing) == 0 {
		return errors.New("no segments")
	}
	ll := m.PartTarget > 0
	if ll {
		if !m.CanBlockReload {
			return errors.New("LL-HLS playlist without CAN-BLOCK-RELOAD=YES")
		}
		if m.PartHoldBack < 3*m.PartTarget-1e-6 {
			return fmt.Errorf("PART-HOLD-BACK %.3f < 3 x PART-TARGET %.3f", m.PartHoldBack, m.PartTarget)
		}
		if !m.EndList && m.PreloadHint == "" {
			return errors.New("LL-HLS playlist without EXT-X-PRELOAD-HINT")
		}
	}
	var prevEnd time.Time
	for i, s := range m.Segments {
		if r := int(math.Round(s.Duration)); r > m.TargetDuration {
			return fmt.Errorf("segment %d (%s): duration %.3f rounds above target %d", s.Seq, s.URI, s.Duration, m.TargetDuration)
		}
		if s.Duration <= 0 {
			return fmt.Errorf("segment %d: duration %.3f", s.Seq, s.Duration)
		}
		if err := checkParts(m, s.Parts, ll, true); err != nil {
			return fmt.Errorf("segment %d: %w", s.Seq, err)
		}
		if len(s.Parts) > 0 {
			sum := 0.0
			for _, p := range s.Parts {
				sum += p.Duration
			}
			if math.Abs(sum-s.Duration) > 0.002*float64(len(s.Parts))+0.001 {
				return fmt.Errorf("segment %d: parts add up to %.3f s, EXTINF says %.3f", s.Seq, sum, s.Duration)
			}
			if !s.Parts[0].Independent {
				return fmt.Errorf("segment %d: first part not INDEPENDENT", s.Seq)
			}
		}
		if !s.PDT.IsZero() && i > 0 && !prevEnd.IsZero() && !s.Discontinuity {
			if d := s.PDT.Sub(prevEnd); d < -5*time.Millisecond || d > 5*time.Millisecond {
				return fmt.Errorf("segment %d: program date-time %s, previous segment ended at %s", s.Seq, s.PDT.Format(time.RFC3339Nano), prevEnd.Format(time.RFC3339Nano))
			}
		}
		if !s.PDT.IsZero() {
			prevEnd = s.PDT.Add(time.Duration(s.Duration * float64(time.Second)))
		}
	}
	return checkParts(m, m.Trailing, ll, false)
}

// checkParts applies RFC 8216bis 4.4.4.9: a part lasts at most PART-TARGET
// and at least 85 % of it, except an INDEPENDENT part and the last part of a
// complete segment (closed: its parent segment is listed).
func checkParts(m *Media, parts []Part, ll, closed bool) error {
	if len(parts) > 0 && !ll {
		return errors.New("EXT-X-PART without EXT-X-PART-INF")
	}
	for i, p := range parts {
		if p.Duration > m.PartTarget+0.0005 {
			return fmt.Errorf("part %s: duration %.3f above PART-TARGET %.3f", p.URI, p.Duration, m.PartTarget)
		}
		last := closed && i == len(parts)-1
		if !last && !p.Independent && p.Duration < 0.85*m.PartTarget-0.0005 {
			return fmt.Errorf("part %s: duration %.3f below 85 %% of PART-TARGET %.3f", p.URI, p.Duration, m.PartTarget)
		}
	}
	return nil
}

// Duration is the sum of the listed segments' durations.
func (m *Media) Duration() float64 {
	d := 0.0
	for _, s := range m.Segments {
		d += s.Duration
	}
	return d
}

// CheckProgress verifies that next may follow prev: the media sequence never
// goes backwards and a sequence number listed by both names the same URI.
func CheckProgress(prev, next *Media) error {
	if next.MediaSequence < prev.MediaSequence {
		return fmt.Errorf("media sequence went back from %d to %d", prev.MediaSequence, next.MediaSequence)
	}
	if next.DiscSequence < prev.DiscSequence {
		return fmt.Errorf("discontinuity sequence went back from %d to %d", prev.DiscSequence, next.DiscSequence)
	}
	if pl, nl := len(prev.Segments), len(next.Segments); pl > 0 && nl > 0 {
		if last := prev.Segments[pl-1].Seq; next.Segments[nl-1].Seq < last {
			return fmt.Errorf("last segment went back from %d to %d", last, next.Segments[nl-1].Seq)
		}
	}
	uris := map[uint64]string{}
	for _, s := range prev.Segments {
		uris[s.Seq] = s.URI
	}
	for _, s := range next.Segments {
		if u, ok := uris[s.Seq]; ok && u != s.URI {
			return fmt.Errorf("segment %d was %s, now %s", s.Seq, u, s.URI)
		}
	}
	return nil
}

// ParseMultivariant parses a master playlist's variants.
func ParseMultivariant(b []byte) ([]Variant, error) {
	lines := strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n")
	if len(lines) == 0 || lines[0] != "#EXTM3U" {
		return nil, errors.New("missing #EXTM3U")
	}
	var out []Variant
	var pending *Variant
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "#EXT-X-STREAM-INF:"):
			a, err := attrs(strings.TrimPrefix(l, "#EXT-X-STREAM-INF:"))
			if err != nil {
				return nil, err
			}
			bw, err := strconv.Atoi(a["BANDWIDTH"])
			if err != nil || bw <= 0 {
				return nil, fmt.Errorf("EXT-X-STREAM-INF: BANDWIDTH %q", a["BANDWIDTH"])
			}
			pending = &Variant{Bandwidth: bw, Codecs: a["CODECS"], Resolution: a["RESOLUTION"]}
		case l != "" && !strings.HasPrefix(l, "#"):
			if pending == nil {
				return nil, fmt.Errorf("URI %q without EXT-X-STREAM-INF", l)
			}
			pending.URI = l
			out = append(out, *pending)
			pending = nil
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no variants")
	}
	return out, nil
}
