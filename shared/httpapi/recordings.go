package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/blob"
	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// recordingPage is the list response.
type recordingPage struct {
	Recordings []*store.Recording `json:"recordings"`
	Next       string             `json:"next,omitempty"`
}

// queryTime reads an RFC 3339 time (or Unix seconds) query parameter.
func (a *API) queryTime(c *gin.Context, name string) (time.Time, bool) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	a.fail(c, http.StatusBadRequest, "invalid_field", name+": must be an RFC 3339 time such as 2030-12-09T00:00:00Z", nil)
	return time.Time{}, false
}

func (a *API) listRecordings(c *gin.Context) {
	q := store.RecordingQuery{ChannelID: c.Query("channel"), Kind: c.Query("kind"), Cursor: c.Query("cursor")}
	if q.ChannelID != "" && !channel.ValidID(q.ChannelID) {
		a.fail(c, http.StatusBadRequest, "invalid_field", "channel: must be 1-64 letters, digits, '-' or '_'", nil)
		return
	}
	switch q.Kind {
	case "", store.KindMP4, store.KindHLS, store.KindSnapshot, store.KindMotion:
	default:
		a.fail(c, http.StatusBadRequest, "invalid_field", "kind: must be mp4, hls, snapshot or motion", nil)
		return
	}
	var ok bool
	if q.Limit, ok = a.queryLimit(c); !ok {
		return
	}
	if q.Since, ok = a.queryTime(c, "since"); !ok {
		return
	}
	if q.Until, ok = a.queryTime(c, "until"); !ok {
		return
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		a.fail(c, http.StatusBadRequest, "invalid_field", "until: must be after since", nil)
		return
	}
	page, err := a.cfg.Store.ListRecordings(c.Request.Context(), q)
	if errors.Is(err, store.ErrInvalidCursor) {
		a.fail(c, http.StatusBadRequest, "invalid_field", "cursor: not a cursor this API issued", nil)
		return
	}
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not list recordings", err)
		return
	}
	out := recordingPage{Recordings: page.Recordings, Next: page.Next}
	if out.Recordings == nil {
		out.Recordings = []*store.Recording{}
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) loadRecording(c *gin.Context) (*store.Recording, bool) {
	id := c.Param("id")
	if !channel.ValidID(id) {
		a.fail(c, http.StatusBadRequest, "invalid_field", "id: must be 1-64 letters, digits, '-' or '_'", nil)
		return nil, false
	}
	r, err := a.cfg.Store.GetRecording(c.Request.Context(), id)
	if err != nil {
		a.storeFail(c, "recording", err)
		return nil, false
	}
	return r, true
}

func (a *API) getRecording(c *gin.Context) {
	if r, ok := a.loadRecording(c); ok {
		c.JSON(http.StatusOK, r)
	}
}

// deleteRecording removes the recording's objects from the blob store (its
// listed keys, its playlist and everything under its prefix), then the index
// entry, so a failure half-way leaves an entry that can be deleted again.
func (a *API) deleteRecording(c *gin.Context) {
	r, ok := a.loadRecording(c)
	if !ok {
		return
	}
	if r.Status == store.StatusRecording {
		a.fail(c, http.StatusConflict, "recording_in_progress", "the recording is still being written", nil)
		return
	}
	if a.cfg.Blobs == nil {
		a.fail(c, http.StatusServiceUnavailable, "blob_unavailable", "no recording storage is configured", nil)
		return
	}
	if err := deleteObjects(c.Request.Context(), a.cfg.Blobs, r); err != nil {
		a.fail(c, http.StatusBadGateway, "blob", "could not delete the recording's files; retry", err)
		return
	}
	if err := a.cfg.Store.DeleteRecording(c.Request.Context(), r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.storeFail(c, "recording", err)
		return
	}
	c.Status(http.StatusNoContent)
}

func deleteObjects(ctx context.Context, bs blob.Store, r *store.Recording) error {
	keys := append([]string(nil), r.Keys...)
	if r.Playlist != "" {
		keys = append(keys, r.Playlist)
	}
	for _, k := range keys {
		if err := bs.Delete(ctx, k); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	// A prefix must name a folder of its own: "" or a bare channel prefix would
	// take other recordings with it.
	if r.Prefix == "" || !strings.HasSuffix(r.Prefix, "/") || strings.Count(strings.Trim(r.Prefix, "/"), "/") < 1 {
		return nil
	}
	token := ""
	for {
		page, err := bs.List(ctx, blob.ListOptions{Prefix: r.Prefix, Token: token})
		if err != nil {
			return fmt.Errorf("list %s: %w", r.Prefix, err)
		}
		for _, it := range page.Items {
			if err := bs.Delete(ctx, it.Key); err != nil && !errors.Is(err, blob.ErrNotFound) {
				return fmt.Errorf("delete %s: %w", it.Key, err)
			}
		}
		if page.Next == "" {
			return nil
		}
		token = page.Next
	}
}
