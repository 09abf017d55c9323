package hls

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/media/cmaf"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/playback"
)

// LiveFile is the MPEG-TS live playlist's name under /{key}/.
const LiveFile = "live.m3u8"

// renditions a path may name after the channel id ("source" is the channel itself).
var renditions = map[string]bool{"360p": true, "480p": true, "720p": true, "1080p": true, "original": true, "source": true}

// RegisterPlayback adds the HLS, CMAF and DASH routes to mux:
// /{channel}/{file} and /{channel}/{rendition}/{file}. Playback authorization
// (signed play URLs) applies to every one. It implements gateway.PlaybackRoutes.
func (m *Manager) RegisterPlayback(mux *http.ServeMux, h *hub.Hub, auth playback.Authorizer) {
	if h != nil {
		m.SetHub(h)
	}
	handler := func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, auth) }
	mux.HandleFunc("GET /{channel}/{file}", handler)
	mux.HandleFunc("GET /{channel}/{rendition}/{file}", handler)
}

// Handler serves the routes on their own (tests, other muxes).
func (m *Manager) Handler(auth playback.Authorizer) http.Handler {
	mux := http.NewServeMux()
	m.RegisterPlayback(mux, nil, auth)
	return mux
}

func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Content-Length")
}

func httpError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

func (m *Manager) serve(w http.ResponseWriter, r *http.Request, auth playback.Authorizer) {
	setCORS(w.Header())
	id := r.PathValue("channel")
	file := r.PathValue("file")
	if !channel.ValidID(id) {
		httpError(w, http.StatusNotFound, "no such stream")
		return
	}
	key := id
	if rend := r.PathValue("rendition"); rend != "" {
		if !renditions[rend] {
			httpError(w, http.StatusNotFound, "no such stream")
			return
		}
		if rend != "source" {
			key = id + "/" + rend
		}
	}
	isTS := file == LiveFile || strings.HasSuffix(file, ".ts")
	if !isTS && !cmaf.Owns(file) {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	if auth != nil {
		if err := auth(r, id); err != nil {
			httpError(w, http.StatusForbidden, "playback not authorized")
			return
		}
	}
	if sq := signatureQuery(r.URL.RawQuery); sq != "" && (strings.HasSuffix(file, ".m3u8") || strings.HasSuffix(file, ".mpd")) {
		rw := &rewriter{ResponseWriter: w}
		defer rw.finish(sq, strings.HasSuffix(file, ".mpd"), r.Method == http.MethodHead)
		w = rw
	}
	e := m.lookup(key)
	if e != nil && key == id {
		if vk := e.stream.ViewKey(); vk != "" {
			// A watermarked channel plays its worker's "{id}/original", never
			// the raw source; until that is live it is not available.
			e = m.lookup(vk)
		}
	}
	if e == nil {
		httpError(w, http.StatusNotFound, "stream not live")
		return
	}
	if !isTS {
		if e.cmaf == nil {
			httpError(w, http.StatusNotFound, "CMAF is off for this channel")
			return
		}
		e.cmaf.ServeFile(w, r, file)
		return
	}
	if e.ts == nil {
		httpError(w, http.StatusNotFound, "HLS is off for this channel")
		return
	}
	if file == LiveFile {
		m.servePlaylist(w, r, e)
		return
	}
	seq, ok := parseSegmentName(file, e.token)
	if !ok {
		httpError(w, http.StatusNotFound, "no such segment")
		return
	}
	seg, ok := e.ts.snap.Load().segment(seq)
	if !ok {
		httpError(w, http.StatusNotFound, "no such segment")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp2t")
	h.Set("Cache-Control", "public, max-age=86400, immutable")
	h.Set("Content-Length", strconv.Itoa(seg.Size()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(seg.Bytes()) // muxed by the first request for it
	}
}

// servePlaylist serves live.m3u8, waiting up to a segment target (+1 s) for the
// first segment of a stream that just started.
func (m *Manager) servePlaylist(w http.ResponseWriter, r *http.Request, e *entry) {
	snap := e.ts.snap.Load()
	if len(snap.playlist) == 0 {
		ctx, cancel := context.WithTimeout(r.Context(), e.target+time.Second)
		select {
		case <-e.ts.ready:
		case <-ctx.Done():
		}
		cancel()
		snap = e.ts.snap.Load()
		if len(snap.playlist) == 0 {
			httpError(w, http.StatusServiceUnavailable, "no segment yet")
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Cache-Control", "public, max-age=1")
	h.Set("Content-Length", strconv.Itoa(len(snap.playlist)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(snap.playlist)
	}
}

// parseSegmentName reads "s{token}-{seq}.ts".
func parseSegmentName(name, token string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, "s"+token+"-")
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".ts")
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 63)
	return n, err == nil
}
