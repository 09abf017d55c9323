package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// SettingTemplates is the store setting holding the edited templates.
const SettingTemplates = "api/templates"

// Template is a transcode preset: what one rendition of the ladder is made of.
// Its id is the rendition name channels list in transcode.renditions.
type Template struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	VideoKbps  int    `json:"videoKbps"`
	MaxKbps    int    `json:"maxKbps"`
	BufferKbps int    `json:"bufferKbps"`
	AudioKbps  int    `json:"audioKbps"`
	// Bandwidth is what the ABR master advertises for it, bit/s.
	Bandwidth int `json:"bandwidth"`
}

// DefaultTemplates are the earlier solution's presets (SEED-COMPAT.md).
func DefaultTemplates() []Template {
	return []Template{
		{ID: "360p", Name: "流畅", Width: 640, Height: 360, VideoKbps: 400, MaxKbps: 600, BufferKbps: 600, AudioKbps: 64, Bandwidth: 800000},
		{ID: "480p", Name: "标清", Width: 854, Height: 480, VideoKbps: 600, MaxKbps: 900, BufferKbps: 900, AudioKbps: 64, Bandwidth: 1400000},
		{ID: "720p", Name: "高清", Width: 1280, Height: 720, VideoKbps: 1000, MaxKbps: 1500, BufferKbps: 1500, AudioKbps: 128, Bandwidth: 2800000},
		{ID: "1080p", Name: "超清", Width: 1920, Height: 1080, VideoKbps: 2000, MaxKbps: 3000, BufferKbps: 3000, AudioKbps: 128, Bandwidth: 3500000},
	}
}

// LoadTemplates returns the templates in rendition order: the defaults with
// any edits stored through the API. Workers read the ladder through it.
func LoadTemplates(ctx context.Context, st store.Store) ([]Template, error) {
	ts := DefaultTemplates()
	b, err := st.GetSetting(ctx, SettingTemplates)
	if errors.Is(err, store.ErrNotFound) {
		return ts, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load templates: %w", err)
	}
	var edited map[string]Template
	if err := json.Unmarshal(b, &edited); err != nil {
		return nil, fmt.Errorf("load templates: %w", err)
	}
	for i := range ts {
		if e, ok := edited[ts[i].ID]; ok {
			ts[i] = e
		}
	}
	return ts, nil
}

// Validate checks a template; the error names the field.
func (t *Template) Validate() error {
	bad := func(f, m string) error { return &fieldError{field: f, msg: m} }
	switch {
	case len(t.Name) == 0 || len(t.Name) > 64:
		return bad("name", "must be 1-64 bytes")
	case t.Width < 16 || t.Width > 7680 || t.Width%2 != 0:
		return bad("width", "must be an even number 16-7680")
	case t.Height < 16 || t.Height > 4320 || t.Height%2 != 0:
		return bad("height", "must be an even number 16-4320")
	case t.VideoKbps < 50 || t.VideoKbps > 50000:
		return bad("videoKbps", "must be 50-50000")
	case t.MaxKbps != 0 && (t.MaxKbps < t.VideoKbps || t.MaxKbps > 100000):
		return bad("maxKbps", "must be at least videoKbps and at most 100000 (0: 1.5 x videoKbps)")
	case t.BufferKbps < 0 || t.BufferKbps > 100000:
		return bad("bufferKbps", "must be 0-100000 (0: maxKbps)")
	case t.AudioKbps < 16 || t.AudioKbps > 512:
		return bad("audioKbps", "must be 16-512")
	case t.Bandwidth < 0:
		return bad("bandwidth", "must not be negative")
	}
	if t.MaxKbps == 0 {
		t.MaxKbps = t.VideoKbps * 3 / 2
	}
	if t.BufferKbps == 0 {
		t.BufferKbps = t.MaxKbps
	}
	if t.Bandwidth == 0 {
		t.Bandwidth = (t.MaxKbps + t.AudioKbps) * 1000
	}
	return nil
}

func (a *API) listTemplates(c *gin.Context) {
	ts, err := LoadTemplates(c.Request.Context(), a.cfg.Store)
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not read the templates", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"templates": ts})
}

func (a *API) template(c *gin.Context) ([]Template, int, bool) {
	ts, err := LoadTemplates(c.Request.Context(), a.cfg.Store)
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not read the templates", err)
		return nil, 0, false
	}
	i := slices.IndexFunc(ts, func(t Template) bool { return t.ID == c.Param("id") })
	if i < 0 {
		a.fail(c, http.StatusNotFound, "not_found", "no such template (one of "+strings.Join(channel.Renditions, ", ")+")", nil)
		return nil, 0, false
	}
	return ts, i, true
}

func (a *API) getTemplate(c *gin.Context) {
	if ts, i, ok := a.template(c); ok {
		c.JSON(http.StatusOK, ts[i])
	}
}

// putTemplate replaces one template; the id is the rendition and stays.
func (a *API) putTemplate(c *gin.Context) {
	ts, i, ok := a.template(c)
	if !ok {
		return
	}
	var t Template
	if !a.decode(c, &t) {
		return
	}
	if t.ID != "" && t.ID != ts[i].ID {
		a.fail(c, http.StatusBadRequest, "invalid_field", "id: cannot be changed", nil)
		return
	}
	t.ID = ts[i].ID
	if err := t.Validate(); err != nil {
		a.fail(c, http.StatusBadRequest, "invalid_field", err.Error(), nil)
		return
	}
	ts[i] = t
	edited := map[string]Template{}
	for _, x := range ts {
		edited[x.ID] = x
	}
	b, _ := json.Marshal(edited)
	if err := a.cfg.Store.PutSetting(c.Request.Context(), SettingTemplates, b); err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not store the templates", err)
		return
	}
	c.JSON(http.StatusOK, t)
}
