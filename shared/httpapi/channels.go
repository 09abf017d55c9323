package httpapi

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// channelInput is a channel as clients send it; Enabled is optional (default on).
type channelInput struct {
	channel.Channel
	Enabled *bool `json:"enabled"`
}

func (a *API) createChannel(c *gin.Context) {
	var in channelInput
	if !a.decode(c, &in) {
		return
	}
	ch := in.Channel
	ch.Enabled = in.Enabled == nil || *in.Enabled
	if ch.ID == "" {
		ch.ID = newUUID()
	}
	ch.PushKeyEpoch = 0
	if !a.storeNewChannel(c, &ch) {
		return
	}
	c.Header("Location", "/api/v1/channels/"+ch.ID)
	c.JSON(http.StatusCreated, &ch)
}

// storeNewChannel stamps, normalizes, validates and creates ch, answering the
// error itself.
func (a *API) storeNewChannel(c *gin.Context, ch *channel.Channel) bool {
	now := a.cfg.Now().UTC()
	ch.CreatedAt, ch.UpdatedAt = now, now
	ch.Normalize()
	if err := ch.Validate(); err != nil {
		a.invalid(c, err)
		return false
	}
	err := a.cfg.Store.CreateChannel(c.Request.Context(), ch)
	if errors.Is(err, store.ErrExists) {
		a.fail(c, http.StatusConflict, "exists", "a channel with this id exists", nil)
		return false
	}
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not store the channel", err)
		return false
	}
	return true
}

func (a *API) invalid(c *gin.Context, err error) {
	var fe *channel.FieldError
	if errors.As(err, &fe) {
		a.fail(c, http.StatusBadRequest, "invalid_field", fe.Error(), nil)
		return
	}
	a.fail(c, http.StatusBadRequest, "invalid", err.Error(), nil)
}

// channelPage is the list response.
type channelPage struct {
	Channels []*channel.Channel `json:"channels"`
	Next     string             `json:"next,omitempty"`
}

// queryLimit reads ?limit= (1..MaxListLimit); 0 when absent.
func (a *API) queryLimit(c *gin.Context) (int, bool) {
	v := c.Query("limit")
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > store.MaxListLimit {
		a.fail(c, http.StatusBadRequest, "invalid_field", fmt.Sprintf("limit: must be 1-%d", store.MaxListLimit), nil)
		return 0, false
	}
	return n, true
}

func (a *API) listChannels(c *gin.Context) {
	limit, ok := a.queryLimit(c)
	if !ok {
		return
	}
	page, err := a.cfg.Store.ListChannels(c.Request.Context(), store.ListOptions{Limit: limit, Cursor: c.Query("cursor")})
	if errors.Is(err, store.ErrInvalidCursor) {
		a.fail(c, http.StatusBadRequest, "invalid_field", "cursor: not a cursor this API issued", nil)
		return
	}
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not list channels", err)
		return
	}
	out := channelPage{Channels: page.Channels, Next: page.Next}
	if out.Channels == nil {
		out.Channels = []*channel.Channel{}
	}
	for _, ch := range out.Channels {
		ch.Normalize()
	}
	c.JSON(http.StatusOK, out)
}

// loadChannel reads the :id channel or answers 400/404.
func (a *API) loadChannel(c *gin.Context) (*channel.Channel, bool) {
	return a.loadChannelID(c, c.Param("id"))
}

func (a *API) loadChannelID(c *gin.Context, id string) (*channel.Channel, bool) {
	if !channel.ValidID(id) {
		a.fail(c, http.StatusBadRequest, "invalid_field", "id: must be 1-64 letters, digits, '-' or '_'", nil)
		return nil, false
	}
	ch, err := a.cfg.Store.GetChannel(c.Request.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		a.fail(c, http.StatusNotFound, "not_found", "no such channel", nil)
		return nil, false
	}
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not read the channel", err)
		return nil, false
	}
	ch.Normalize()
	return ch, true
}

func (a *API) getChannel(c *gin.Context) {
	if ch, ok := a.loadChannel(c); ok {
		c.JSON(http.StatusOK, ch)
	}
}

// putChannel replaces a channel: omitted fields take their defaults, as on
// create. The id, creation time and push key epoch are kept.
func (a *API) putChannel(c *gin.Context) {
	cur, ok := a.loadChannel(c)
	if !ok {
		return
	}
	var in channelInput
	if !a.decode(c, &in) {
		return
	}
	a.replaceChannel(c, cur, in)
}

// patchChannel applies a JSON merge patch (RFC 7396) to the stored channel:
// fields present replace, null resets to the default, absent fields stay.
func (a *API) patchChannel(c *gin.Context) {
	cur, ok := a.loadChannel(c)
	if !ok {
		return
	}
	body, ok := a.readBody(c)
	if !ok {
		return
	}
	var patch map[string]any
	if err := decodeStrict(body, &patch); err != nil {
		a.fail(c, http.StatusBadRequest, jsonErrorCode(err), err.Error(), nil)
		return
	}
	if patch == nil {
		a.fail(c, http.StatusBadRequest, "invalid_field", "body: must be a JSON object", nil)
		return
	}
	stored, err := json.Marshal(cur)
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "internal", "internal error", err)
		return
	}
	var doc map[string]any
	if err := json.Unmarshal(stored, &doc); err != nil {
		a.fail(c, http.StatusInternalServerError, "internal", "internal error", err)
		return
	}
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "internal", "internal error", err)
		return
	}
	var in channelInput
	if err := decodeStrict(merged, &in); err != nil {
		a.fail(c, http.StatusBadRequest, jsonErrorCode(err), err.Error(), nil)
		return
	}
	a.replaceChannel(c, cur, in)
}

// mergePatch applies an RFC 7396 merge patch to doc.
func mergePatch(doc, patch map[string]any) map[string]any {
	if doc == nil {
		doc = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(doc, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			dm, _ := doc[k].(map[string]any)
			doc[k] = mergePatch(dm, pm)
			continue
		}
		doc[k] = v
	}
	return doc
}

func (a *API) replaceChannel(c *gin.Context, cur *channel.Channel, in channelInput) {
	ch := in.Channel
	if ch.ID != "" && ch.ID != cur.ID {
		a.fail(c, http.StatusBadRequest, "invalid_field", "id: cannot be changed", nil)
		return
	}
	ch.ID = cur.ID
	ch.Enabled = in.Enabled == nil || *in.Enabled
	ch.CreatedAt, ch.UpdatedAt = cur.CreatedAt, a.cfg.Now().UTC()
	ch.PushKeyEpoch = cur.PushKeyEpoch
	ch.Normalize()
	if err := ch.Validate(); err != nil {
		a.invalid(c, err)
		return
	}
	if err := a.cfg.Store.UpdateChannel(c.Request.Context(), &ch); err != nil {
		a.storeFail(c, "channel", err)
		return
	}
	if !ch.Enabled && cur.Enabled && a.cfg.Streams != nil {
		a.cfg.Streams.Kick(ch.ID, "channel disabled")
	}
	c.JSON(http.StatusOK, &ch)
}

func (a *API) deleteChannel(c *gin.Context) {
	ch, ok := a.loadChannel(c)
	if !ok {
		return
	}
	if err := a.cfg.Store.DeleteChannel(c.Request.Context(), ch.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.fail(c, http.StatusInternalServerError, "store", "could not delete the channel", err)
		return
	}
	if a.cfg.Streams != nil {
		a.cfg.Streams.Kick(ch.ID, "channel deleted")
	}
	c.Status(http.StatusNoContent)
}

// rotateKey starts a new push key epoch for the channel: every push URL
// issued before stops working, the live publisher (if any) is disconnected,
// and the response carries the new URLs.
func (a *API) rotateKey(c *gin.Context) {
	ch, ok := a.loadChannel(c)
	if !ok {
		return
	}
	ch.PushKeyEpoch++
	ch.UpdatedAt = a.cfg.Now().UTC()
	if err := a.cfg.Store.UpdateChannel(c.Request.Context(), ch); err != nil {
		a.storeFail(c, "channel", err)
		return
	}
	if a.cfg.Streams != nil {
		a.cfg.Streams.Kick(ch.ID, "push key rotated")
	}
	urls, ok := a.urlsFor(c, ch)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, urls)
}

// newUUID returns a random (version 4) UUID, the id format of the earlier solution.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// rfc3339 formats t for responses.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
