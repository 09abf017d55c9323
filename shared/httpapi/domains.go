package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/store"
)

// SettingDomains is the store setting holding the Domains JSON.
const SettingDomains = "api/domains"

// Domains are the push and play bases every URL the API hands out is built
// on, one place for the whole platform. Empty values fall back to the
// server's own addresses (Config.URLs).
type Domains struct {
	// Push is "rtmp://live.example.com:1935" (or rtmps://).
	Push string `json:"push"`
	// Play is "https://play.example.com" (the CloudFront distribution or the server).
	Play string `json:"play"`
}

// LoadDomains reads the configured domains; zero Domains when none are set.
func LoadDomains(ctx context.Context, st store.Store) (Domains, error) {
	var d Domains
	b, err := st.GetSetting(ctx, SettingDomains)
	if errors.Is(err, store.ErrNotFound) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("load domains: %w", err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return Domains{}, fmt.Errorf("load domains: %w", err)
	}
	return d, nil
}

// Validate checks both bases; the error names the field.
func (d *Domains) Validate() error {
	d.Push = strings.TrimRight(strings.TrimSpace(d.Push), "/")
	d.Play = strings.TrimRight(strings.TrimSpace(d.Play), "/")
	if err := validBase(d.Push, "rtmp", "rtmps"); err != nil {
		return &fieldError{field: "push", msg: err.Error()}
	}
	if err := validBase(d.Play, "http", "https"); err != nil {
		return &fieldError{field: "play", msg: err.Error()}
	}
	return nil
}

func validBase(s string, schemes ...string) error {
	if s == "" {
		return nil
	}
	want := fmt.Sprintf("must be %s://host[:port] with no path", strings.Join(schemes, "|"))
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New(want)
	}
	for _, sc := range schemes {
		if u.Scheme == sc {
			return nil
		}
	}
	return errors.New(want)
}

func (a *API) getDomains(c *gin.Context) {
	d, err := LoadDomains(c.Request.Context(), a.cfg.Store)
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not read the domains", err)
		return
	}
	c.JSON(http.StatusOK, a.withDefaults(d))
}

// domainsView shows the configured values and what URLs are built on.
type domainsView struct {
	Domains
	// Effective are the bases in use (configured, or the server's own).
	Effective Domains `json:"effective"`
}

func (a *API) withDefaults(d Domains) domainsView {
	v := domainsView{Domains: d, Effective: d}
	if v.Effective.Push == "" {
		v.Effective.Push = a.cfg.URLs.PushBase
	}
	if v.Effective.Play == "" {
		v.Effective.Play = a.cfg.URLs.PlayBase
	}
	return v
}

func (a *API) putDomains(c *gin.Context) {
	var d Domains
	if !a.decode(c, &d) {
		return
	}
	if err := d.Validate(); err != nil {
		a.fail(c, http.StatusBadRequest, "invalid_field", err.Error(), nil)
		return
	}
	b, _ := json.Marshal(d)
	if err := a.cfg.Store.PutSetting(c.Request.Context(), SettingDomains, b); err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not store the domains", err)
		return
	}
	c.JSON(http.StatusOK, a.withDefaults(d))
}
