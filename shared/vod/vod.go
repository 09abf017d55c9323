// Package vod serves recordings for playback from the blob store at stable
// URLs: /vod/{recordingId}/index.m3u8 (the HLS VOD playlist of an HLS
// recording) and /vod/{recordingId}/{file} for every object of a recording
// (its MP4 files and HLS segments), with Range requests, conditional
// requests, the objects' content types and CORS for browser players.
//
// A file is looked up under the recording's store Prefix, so a URL can only
// reach the objects of an indexed recording; ids and file names are checked
// before anything is read.
package vod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// PathPrefix is where the handler is mounted.
const PathPrefix = "/vod/"

// Recordings is the part of the store the handler reads.
type Recordings interface {
	GetRecording(ctx context.Context, id string) (*store.Recording, error)
}

// Config of the handler.
type Config struct {
	Store Recordings
	Blob  blob.Store
	// Authorize, when set, decides whether the request may play the
	// recording's channel (the channel's signed-playback rule); nil allows.
	Authorize func(r *http.Request, channelID string) error
	Logger    *slog.Logger
}

// Handler serves recordings.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New returns the handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, log: cfg.Logger.With("component", "vod")}
}

func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Range")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges")
}

func httpError(w http.ResponseWriter, status int, msg string) {
	setCORS(w.Header())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// validFile accepts one path segment of letters, digits, '.', '-', '_', not
// starting with a dot (no traversal, no hidden files).
func validFile(name string) bool {
	if name == "" || len(name) > 128 || name[0] == '.' {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// ServeHTTP serves GET, HEAD and OPTIONS on /vod/{recordingId}/{file}.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodOptions:
		setCORS(w.Header())
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	id, file, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || !channel.ValidID(id) || !validFile(file) {
		httpError(w, http.StatusNotFound, "no such recording file")
		return
	}
	rec, err := h.cfg.Store.GetRecording(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		httpError(w, http.StatusNotFound, "no such recording")
		return
	}
	if err != nil {
		h.log.Error("recording lookup failed", "recording", id, "error", err)
		httpError(w, http.StatusServiceUnavailable, "recording index unavailable")
		return
	}
	if h.cfg.Authorize != nil {
		if err := h.cfg.Authorize(r, rec.ChannelID); err != nil {
			httpError(w, http.StatusForbidden, "playback not authorized")
			return
		}
	}
	if rec.Prefix == "" {
		httpError(w, http.StatusNotFound, "no such recording file")
		return
	}
	key := rec.Prefix + file
	info, err := h.cfg.Blob.Stat(r.Context(), key)
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidKey) {
		httpError(w, http.StatusNotFound, "no such recording file")
		return
	}
	if err != nil {
		h.log.Error("recording file lookup failed", "key", key, "error", err)
		httpError(w, http.StatusServiceUnavailable, "storage unavailable")
		return
	}
	hd := w.Header()
	setCORS(hd)
	hd.Set("Content-Type", info.ContentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", fmt.Sprintf(`"%x-%x"`, info.Size, info.ModTime.UnixNano()))
	switch {
	case strings.HasSuffix(file, ".m3u8") && rec.Status == store.StatusRecording:
		hd.Set("Cache-Control", "no-cache") // the playlist grows while recording
	case strings.HasSuffix(file, ".m3u8"):
		hd.Set("Cache-Control", "public, max-age=60")
	default:
		hd.Set("Cache-Control", "public, max-age=86400, immutable") // files never change once stored
	}
	content := &objectReader{ctx: r.Context(), s: h.cfg.Blob, key: key, size: info.Size}
	defer content.Close()
	http.ServeContent(w, r, "", info.ModTime, content)
}

// objectReader is the io.ReadSeeker http.ServeContent needs, over a blob
// object: seeking is free, and the object is opened (from the position) on the
// first read after a seek, through RangeGetter when the store has it.
type objectReader struct {
	ctx  context.Context
	s    blob.Store
	key  string
	size int64
	pos  int64
	rc   io.ReadCloser
}

func (o *objectReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.pos
	case io.SeekEnd:
		offset += o.size
	default:
		return o.pos, errors.New("vod: bad whence")
	}
	if offset < 0 {
		return o.pos, errors.New("vod: seek before start")
	}
	if offset != o.pos {
		o.closeBody()
		o.pos = offset
	}
	return offset, nil
}

func (o *objectReader) Read(p []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if o.rc == nil {
		if err := o.open(); err != nil {
			return 0, err
		}
	}
	n, err := o.rc.Read(p)
	o.pos += int64(n)
	return n, err
}

func (o *objectReader) open() error {
	if rg, ok := o.s.(blob.RangeGetter); ok {
		rc, _, err := rg.GetRange(o.ctx, o.key, o.pos, -1)
		if err != nil {
			return err
		}
		o.rc = rc
		return nil
	}
	rc, _, err := o.s.Get(o.ctx, o.key)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(io.Discard, rc, o.pos); err != nil {
		_ = rc.Close()
		return err
	}
	o.rc = rc
	return nil
}

func (o *objectReader) closeBody() {
	if o.rc != nil {
		_ = o.rc.Close()
		o.rc = nil
	}
}

// Close releases the open body.
func (o *objectReader) Close() error {
	o.closeBody()
	return nil
}
