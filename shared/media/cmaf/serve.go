package cmaf

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Content types of what the packager serves.
const (
	TypePlaylist = "application/vnd.apple.mpegurl"
	TypeMPD      = "application/dash+xml"
	TypeMP4      = "video/mp4"
)

// Files the packager serves under /{key}/.
const (
	MasterFile = "master.m3u8"
	MediaFile  = "media.m3u8"
	MPDFile    = "manifest.mpd"
)

// Owns reports whether file is one of the packager's file names.
func Owns(file string) bool {
	switch file {
	case MasterFile, MediaFile, MPDFile:
		return true
	}
	return strings.HasSuffix(file, ".m4s") || (strings.HasPrefix(file, "init") && strings.HasSuffix(file, ".mp4"))
}

// ErrBadRequest is returned by ParseBlockingQuery for malformed directives.
var ErrBadRequest = errors.New("bad LL-HLS directive")

// BlockingQuery holds the LL-HLS delivery directives of a playlist request.
type BlockingQuery struct {
	MSN     uint64
	Part    int
	HasMSN  bool
	HasPart bool
}

// ParseBlockingQuery reads _HLS_msn and _HLS_part from a raw query. _HLS_part
// without _HLS_msn is an error (RFC 8216bis 6.2.5.2).
func ParseBlockingQuery(raw string) (BlockingQuery, error) {
	var q BlockingQuery
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "_HLS_msn":
			n, err := strconv.ParseUint(v, 10, 63)
			if err != nil {
				return q, ErrBadRequest
			}
			q.MSN, q.HasMSN = n, true
		case "_HLS_part":
			n, err := strconv.ParseUint(v, 10, 31)
			if err != nil {
				return q, ErrBadRequest
			}
			q.Part, q.HasPart = int(n), true
		}
	}
	if q.HasPart && !q.HasMSN {
		return q, ErrBadRequest
	}
	return q, nil
}

// ParseMediaName reads "c{token}-{msn}.m4s" (part -1) or "c{token}-{msn}.{part}.m4s".
func ParseMediaName(name, token string) (msn uint64, part int, ok bool) {
	rest, found := strings.CutPrefix(name, "c"+token+"-")
	if !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, ".m4s")
	if !found {
		return 0, 0, false
	}
	ms, ps, hasPart := strings.Cut(rest, ".")
	n, err := strconv.ParseUint(ms, 10, 63)
	if err != nil || (len(ms) > 1 && ms[0] == '0') {
		return 0, 0, false
	}
	if !hasPart {
		return n, -1, true
	}
	pn, err := strconv.ParseUint(ps, 10, 31)
	if err != nil || (len(ps) > 1 && ps[0] == '0') {
		return 0, 0, false
	}
	return n, int(pn), true
}

// wait returns the first snapshot satisfying cond, or the last one seen when the
// timeout or ctx ends (ok false).
func (p *Packager) wait(ctx context.Context, timeout time.Duration, cond func(*snapshot) bool) (*snapshot, bool) {
	s := p.snap.Load()
	if cond(s) {
		return s, true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-s.next:
			s = p.snap.Load()
			if cond(s) {
				return s, true
			}
			if s.ended {
				return s, cond(s)
			}
		case <-t.C:
			return s, false
		case <-ctx.Done():
			return s, false
		}
	}
}

func write(w http.ResponseWriter, r *http.Request, ctype, cache string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", cache)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func fail(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

const (
	cachePlaylist = "no-cache"
	cacheBlocking = "public, max-age=6"
	cacheMedia    = "public, max-age=86400, immutable"
)

// ServeFile serves one of the packager's files (see Owns).
func (p *Packager) ServeFile(w http.ResponseWriter, r *http.Request, file string) {
	ctx := r.Context()
	first := p.cfg.SegmentDuration + p.cfg.BlockTimeout
	switch file {
	case MasterFile:
		s, ok := p.wait(ctx, first, (*snapshot).ready)
		if !ok {
			fail(w, http.StatusServiceUnavailable, "no media yet")
			return
		}
		write(w, r, TypePlaylist, cachePlaylist, s.multivariant())
		return
	case MediaFile:
		p.servePlaylist(w, r)
		return
	case MPDFile:
		s, ok := p.wait(ctx, first, func(s *snapshot) bool { return len(s.done) > 0 && s.info != nil })
		if !ok {
			fail(w, http.StatusServiceUnavailable, "no segment yet")
			return
		}
		write(w, r, TypeMPD, "no-cache", s.mpd(time.Now()))
		return
	}
	if strings.HasPrefix(file, "init") {
		s := p.snap.Load()
		g, ok := strings.CutPrefix(file, "init"+p.token+"-")
		g, ok2 := strings.CutSuffix(g, ".mp4")
		gen, err := strconv.Atoi(g)
		if !ok || !ok2 || err != nil || s.inits[gen] == nil {
			fail(w, http.StatusNotFound, "no such init segment")
			return
		}
		write(w, r, TypeMP4, cacheMedia, s.inits[gen])
		return
	}
	msn, part, ok := ParseMediaName(file, p.token)
	if !ok {
		fail(w, http.StatusNotFound, "no such segment")
		return
	}
	s := p.snap.Load()
	if part >= 0 {
		// a preload hint names the next part: hold the request until it exists
		if m, n := s.hint(); msn == m && part == n && !s.ended && !p.cfg.CDN {
			s, _ = p.wait(ctx, p.cfg.BlockTimeout, func(s *snapshot) bool { return s.findPart(msn, part) != nil || s.ended })
		}
		if pt := s.findPart(msn, part); pt != nil {
			write(w, r, TypeMP4, cacheMedia, pt.data)
			return
		}
		fail(w, http.StatusNotFound, "no such part")
		return
	}
	if sg := s.findSegment(msn); sg != nil {
		write(w, r, TypeMP4, cacheMedia, sg.data)
		return
	}
	fail(w, http.StatusNotFound, "no such segment")
}

func (p *Packager) servePlaylist(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q, err := ParseBlockingQuery(r.URL.RawQuery)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if p.cfg.CDN || !q.HasMSN {
		s, ok := p.wait(ctx, p.cfg.SegmentDuration+p.cfg.BlockTimeout, func(s *snapshot) bool {
			return s.ready() && (len(s.done) > 0 || !p.cfg.CDN)
		})
		if !ok {
			fail(w, http.StatusServiceUnavailable, "no media yet")
			return
		}
		cache := cachePlaylist
		if p.cfg.CDN {
			cache = "public, max-age=1"
		}
		write(w, r, TypePlaylist, cache, s.mediaPlaylist())
		return
	}
	s := p.snap.Load()
	if m, _ := s.edge(); q.MSN > m+1 && s.ready() {
		fail(w, http.StatusBadRequest, "_HLS_msn too far ahead")
		return
	}
	cond := func(s *snapshot) bool {
		if !s.ready() {
			return false
		}
		if s.ended {
			return true
		}
		m, n := s.edge()
		if q.HasPart {
			return q.MSN < m || (q.MSN == m && q.Part < n)
		}
		return q.MSN < m
	}
	s, ok := p.wait(ctx, p.cfg.BlockTimeout, cond)
	if !ok {
		fail(w, http.StatusServiceUnavailable, "playlist update not ready")
		return
	}
	write(w, r, TypePlaylist, cacheBlocking, s.mediaPlaylist())
}

func (s *snapshot) findSegment(msn uint64) *segment {
	for _, sg := range s.done {
		if sg.msn == msn {
			return sg
		}
	}
	return nil
}

func (s *snapshot) findPart(msn uint64, i int) *part {
	sg := s.findSegment(msn)
	if sg == nil && s.open != nil && s.open.msn == msn {
		sg = s.open
	}
	if sg == nil || i < 0 || i >= len(sg.parts) {
		return nil
	}
	return &sg.parts[i]
}
