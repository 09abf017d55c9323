package httpapi

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// channelInput is a channel as clients send it; Enabled is optional (default on).
type channelInput struct {
	channel.Channel
	Enabled *bool `json:"enabled"`
}

func (a *API) decode(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One JSON value per body: what follows it is refused, not ignored.
		var extra json.RawMessage
		if err = dec.Decode(&extra); errors.Is(err, io.EOF) {
			return true
		}
		if !errors.As(err, new(*http.MaxBytesError)) {
			err = errors.New("trailing data after the object")
		}
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.fail(c, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body over %d bytes", mbe.Limit), nil)
			return false
		}
		a.fail(c, http.StatusBadRequest, "bad_json", "invalid JSON: "+err.Error(), nil)
		return false
	}
	return true
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
	now := a.cfg.Now().UTC()
	ch.CreatedAt, ch.UpdatedAt = now, now
	ch.Normalize()
	if err := ch.Validate(); err != nil {
		a.invalid(c, err)
		return
	}
	err := a.cfg.Store.CreateChannel(c.Request.Context(), &ch)
	if errors.Is(err, store.ErrExists) {
		a.fail(c, http.StatusConflict, "exists", "a channel with this id exists", nil)
		return
	}
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not store the channel", err)
		return
	}
	c.Header("Location", "/api/v1/channels/"+ch.ID)
	c.JSON(http.StatusCreated, &ch)
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

func (a *API) listChannels(c *gin.Context) {
	limit := 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxListLimit {
			a.fail(c, http.StatusBadRequest, "invalid_field", fmt.Sprintf("limit: must be 1-%d", store.MaxListLimit), nil)
			return
		}
		limit = n
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
	c.JSON(http.StatusOK, out)
}

// loadChannel reads the :id channel or answers 400/404.
func (a *API) loadChannel(c *gin.Context) (*channel.Channel, bool) {
	id := c.Param("id")
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

// ChannelURLs is the /urls response.
type ChannelURLs struct {
	Push          string            `json:"push"`
	PushServer    string            `json:"pushServer"`
	PushKey       string            `json:"pushKey"`
	PushExpiresAt string            `json:"pushExpiresAt"`
	Play          map[string]string `json:"play"`
}

func (a *API) channelURLs(c *gin.Context) {
	ch, ok := a.loadChannel(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, a.urlsFor(ch))
}

func (a *API) urlsFor(ch *channel.Channel) ChannelURLs {
	exp := a.cfg.Now().Add(a.cfg.PushURLTTL)
	if ch.ExpiresAt != nil && ch.ExpiresAt.Before(exp) {
		exp = *ch.ExpiresAt
	}
	sign := a.cfg.Signer.Sign(ch.ID, exp)
	key := ch.ID + "?sign=" + url.QueryEscape(sign)
	play := map[string]string{}
	base := a.cfg.URLs.PlayBase
	if ch.Outputs.FLVEnabled() {
		play["flv"] = base + "/" + ch.ID + "/live.flv"
		play["rtmp"] = a.cfg.URLs.PushBase + "/stream/" + ch.ID
	}
	return ChannelURLs{
		Push:          a.cfg.URLs.PushBase + "/stream/" + key,
		PushServer:    a.cfg.URLs.PushBase + "/stream",
		PushKey:       key,
		PushExpiresAt: exp.UTC().Format("2006-01-02T15:04:05Z07:00"),
		Play:          play,
	}
}

func (a *API) listStreams(c *gin.Context) {
	out := []any{}
	if a.cfg.Streams != nil {
		for _, s := range a.cfg.Streams.Streams() {
			out = append(out, s)
		}
	}
	c.JSON(http.StatusOK, gin.H{"streams": out})
}

// newUUID returns a random (version 4) UUID, the id format of the earlier solution.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
