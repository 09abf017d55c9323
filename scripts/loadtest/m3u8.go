package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// mediaPlaylist is what the latency mode reads of an HLS media playlist.
//
// Hand-written rather than gohlslib's playlist.Media because gohlslib
// rejects a media playlist without a complete segment ("no segments
// found"), and the first LL-HLS playlists of a stream are exactly that: a
// map, a few EXT-X-PART lines and a preload hint. Only the tags the harness
// needs are read; others are skipped.
type mediaPlaylist struct {
	MediaSequence  int
	MapURI         string
	Segments       []mediaSegment
	Parts          []partRef // parts after the last complete segment
	CanBlockReload bool
	PartHoldBack   time.Duration
	PartTarget     time.Duration
}

type mediaSegment struct {
	URI      string
	Duration time.Duration
	Parts    []partRef
}

// partRef is one EXT-X-PART of a media playlist.
type partRef struct {
	MSN, Index int
	URI        string
	Duration   time.Duration
	Range      string // "bytes=a-b" for BYTERANGE parts
}

func (p partRef) after(q partRef) bool {
	return p.MSN > q.MSN || (p.MSN == q.MSN && p.Index > q.Index)
}

// allParts lists the parts of the playlist in order.
func (pl *mediaPlaylist) allParts() []partRef {
	var out []partRef
	for _, s := range pl.Segments {
		out = append(out, s.Parts...)
	}
	return append(out, pl.Parts...)
}

const maxPlaylistLines = 100000

// parseMedia reads a media playlist.
func parseMedia(b []byte) (*mediaPlaylist, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 64<<10)
	pl := &mediaPlaylist{}
	var (
		pending  []partRef // parts of the segment being listed
		extinf   time.Duration
		inSeg    bool
		lines    int
		header   bool
		rangeEnd = map[string]uint64{} // BYTERANGE without offset continues the previous one of the URI
	)
	for sc.Scan() {
		lines++
		if lines > maxPlaylistLines {
			return nil, errors.New("playlist: too many lines")
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !header {
			if line != "#EXTM3U" {
				return nil, errors.New("playlist: no #EXTM3U header")
			}
			header = true
			continue
		}
		tag, val, _ := strings.Cut(line, ":")
		switch tag {
		case "#EXT-X-STREAM-INF":
			return nil, errors.New("playlist: a multivariant playlist, not a media playlist")
		case "#EXT-X-MEDIA-SEQUENCE":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("playlist: EXT-X-MEDIA-SEQUENCE %q", val)
			}
			pl.MediaSequence = n
		case "#EXT-X-MAP":
			a, err := attributes(val)
			if err != nil {
				return nil, fmt.Errorf("playlist: EXT-X-MAP: %w", err)
			}
			pl.MapURI = a["URI"]
		case "#EXT-X-SERVER-CONTROL":
			a, err := attributes(val)
			if err != nil {
				return nil, fmt.Errorf("playlist: EXT-X-SERVER-CONTROL: %w", err)
			}
			pl.CanBlockReload = a["CAN-BLOCK-RELOAD"] == "YES"
			if v, ok := a["PART-HOLD-BACK"]; ok {
				if pl.PartHoldBack, err = seconds(v); err != nil {
					return nil, fmt.Errorf("playlist: PART-HOLD-BACK: %w", err)
				}
			}
		case "#EXT-X-PART-INF":
			a, err := attributes(val)
			if err != nil {
				return nil, fmt.Errorf("playlist: EXT-X-PART-INF: %w", err)
			}
			if pl.PartTarget, err = seconds(a["PART-TARGET"]); err != nil {
				return nil, fmt.Errorf("playlist: PART-TARGET: %w", err)
			}
		case "#EXT-X-PART":
			a, err := attributes(val)
			if err != nil {
				return nil, fmt.Errorf("playlist: EXT-X-PART: %w", err)
			}
			p := partRef{MSN: pl.MediaSequence + len(pl.Segments), Index: len(pending), URI: a["URI"]}
			if p.URI == "" {
				return nil, errors.New("playlist: EXT-X-PART without URI")
			}
			if p.Duration, err = seconds(a["DURATION"]); err != nil {
				return nil, fmt.Errorf("playlist: EXT-X-PART DURATION: %w", err)
			}
			if br, ok := a["BYTERANGE"]; ok {
				n, off, hasOff := strings.Cut(br, "@")
				length, err1 := strconv.ParseUint(n, 10, 63)
				start := rangeEnd[p.URI]
				var err2 error
				if hasOff {
					start, err2 = strconv.ParseUint(off, 10, 63)
				}
				if err1 != nil || err2 != nil || length == 0 {
					return nil, fmt.Errorf("playlist: BYTERANGE %q", br)
				}
				p.Range = fmt.Sprintf("bytes=%d-%d", start, start+length-1)
				rangeEnd[p.URI] = start + length
			}
			pending = append(pending, p)
		case "#EXTINF":
			d, _, _ := strings.Cut(val, ",")
			var err error
			if extinf, err = seconds(d); err != nil {
				return nil, fmt.Errorf("playlist: EXTINF: %w", err)
			}
			inSeg = true
		default:
			if strings.HasPrefix(line, "#") {
				continue
			}
			if !inSeg {
				return nil, fmt.Errorf("playlist: URI %q without EXTINF", line)
			}
			pl.Segments = append(pl.Segments, mediaSegment{URI: line, Duration: extinf, Parts: pending})
			pending, inSeg = nil, false
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("playlist: %w", err)
	}
	if !header {
		return nil, errors.New("playlist: empty")
	}
	pl.Parts = pending
	return pl, nil
}

// attributes reads an attribute list: KEY=VALUE,KEY="quoted, value",...
func attributes(s string) (map[string]string, error) {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("attribute list %q", s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted value of %s", k)
			}
			v, rest = rest[1:1+end], rest[2+end:]
			if rest != "" {
				if rest[0] != ',' {
					return nil, fmt.Errorf("attribute list: junk after %s", k)
				}
				rest = rest[1:]
			}
		} else {
			v, rest, _ = strings.Cut(rest, ",")
		}
		out[strings.TrimSpace(k)] = v
		s = rest
	}
	return out, nil
}

// seconds reads a decimal number of seconds.
func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 86400 {
		return 0, fmt.Errorf("%q is not a duration in seconds", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}
