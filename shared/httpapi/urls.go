package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/livestack/livestack/shared/channel"
)

// ChannelURLs is the /urls response. Push URLs are signed with the channel's
// push key epoch; play URLs are signed (CloudFront-style) when the channel
// requires it: FLV and the snapshot with a canned policy for that URL, the
// HLS/CMAF/DASH family with a custom policy for every file under
// /{channelId}/ (so segment URLs can carry the same query).
type ChannelURLs struct {
	Push          string `json:"push"`
	PushServer    string `json:"pushServer"`
	PushKey       string `json:"pushKey"`
	PushExpiresAt string `json:"pushExpiresAt"`
	// Play maps a format (flv, rtmp, hls, cmaf, dash, abr, snapshot) to its URL.
	Play map[string]string `json:"play"`
	// Renditions maps a rendition (360p...) to its URLs by format (hls, flv).
	Renditions map[string]map[string]string `json:"renditions,omitempty"`
	// PlayExpiresAt is when signed play URLs stop working (playAuth channels).
	PlayExpiresAt string `json:"playExpiresAt,omitempty"`
}

// qrFormats are the ?qr= values and the URL each one encodes.
var qrFormats = []string{"push", "flv", "rtmp", "hls", "cmaf", "dash", "abr", "snapshot"}

func (a *API) channelURLs(c *gin.Context) {
	ch, ok := a.loadChannel(c)
	if !ok {
		return
	}
	urls, ok := a.urlsFor(c, ch)
	if !ok {
		return
	}
	format := c.Query("qr")
	if format == "" {
		c.JSON(http.StatusOK, urls)
		return
	}
	target := urls.Play[format]
	if format == "push" {
		target = urls.Push
	}
	if target == "" {
		known := false
		for _, f := range qrFormats {
			known = known || f == format
		}
		if !known {
			a.fail(c, http.StatusBadRequest, "invalid_field", "qr: must be one of "+strings.Join(qrFormats, ", "), nil)
			return
		}
		a.fail(c, http.StatusNotFound, "not_found", "qr: "+format+" is not enabled for this channel", nil)
		return
	}
	png, err := qrcode.Encode(target, qrcode.Medium, 320)
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "internal", "could not draw the QR code", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "image/png", png)
}

// urlsFor builds the channel's URLs on the configured domains; it answers the
// error itself when it cannot (store failure, play signing unavailable).
func (a *API) urlsFor(c *gin.Context, ch *channel.Channel) (ChannelURLs, bool) {
	d, err := LoadDomains(c.Request.Context(), a.cfg.Store)
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not read the domains", err)
		return ChannelURLs{}, false
	}
	pushBase, playBase := a.cfg.URLs.PushBase, a.cfg.URLs.PlayBase
	if d.Push != "" {
		pushBase = d.Push
	}
	if d.Play != "" {
		playBase = d.Play
	}
	now := a.cfg.Now()
	exp := now.Add(a.cfg.PushURLTTL)
	if ch.ExpiresAt != nil && ch.ExpiresAt.Before(exp) {
		exp = *ch.ExpiresAt
	}
	sign := a.cfg.Signer.ForEpoch(ch.PushKeyEpoch).Sign(ch.ID, exp)
	key := ch.ID + "?sign=" + url.QueryEscape(sign)
	out := ChannelURLs{
		Push:          pushBase + "/stream/" + key,
		PushServer:    pushBase + "/stream",
		PushKey:       key,
		PushExpiresAt: rfc3339(exp),
		Play:          map[string]string{},
	}
	base := playBase + "/" + ch.ID
	o := ch.Outputs
	if o.FLVEnabled() {
		out.Play["flv"] = base + "/live.flv"
		out.Play["rtmp"] = pushBase + "/stream/" + ch.ID
	}
	if o.HLSEnabled() {
		out.Play["hls"] = base + "/live.m3u8"
	}
	if o.CMAF {
		out.Play["cmaf"] = base + "/master.m3u8"
		out.Play["dash"] = base + "/manifest.mpd"
	}
	if ch.Recording.Snapshots {
		out.Play["snapshot"] = base + "/snapshot.jpg"
	}
	if ch.Transcode.Enabled && len(ch.Transcode.Renditions) > 0 {
		out.Play["abr"] = base + "/index.m3u8"
		out.Renditions = map[string]map[string]string{}
		for _, r := range ch.Transcode.Renditions {
			m := map[string]string{"hls": base + "/" + r + "/index.m3u8"}
			if o.FLVEnabled() {
				m["flv"] = base + "/" + r + "/live.flv"
			}
			out.Renditions[r] = m
		}
	}
	if !ch.PlayAuth {
		return out, true
	}
	if a.cfg.PlaySigner == nil {
		a.fail(c, http.StatusServiceUnavailable, "play_signing_unavailable", "this channel requires signed play URLs and no play key is configured", nil)
		return ChannelURLs{}, false
	}
	ip := c.Query("ip")
	playExp := now.Add(a.cfg.PlayURLTTL)
	if err := a.signPlay(&out, base, playExp, ip); err != nil {
		if ip != "" {
			a.fail(c, http.StatusBadRequest, "invalid_field", "ip: must be an address or a CIDR range", nil)
			return ChannelURLs{}, false
		}
		a.fail(c, http.StatusInternalServerError, "internal", "could not sign the play URLs", err)
		return ChannelURLs{}, false
	}
	out.PlayExpiresAt = rfc3339(playExp)
	return out, true
}

// signPlay signs every play URL in place.
func (a *API) signPlay(out *ChannelURLs, base string, exp time.Time, ip string) error {
	s := a.cfg.PlaySigner
	single := func(u string) (string, error) {
		if ip != "" {
			return s.SignPolicy(u, "", exp, ip)
		}
		return s.Sign(u, exp)
	}
	family := func(u string) (string, error) { return s.SignPolicy(u, base+"/*", exp, ip) }
	for f, u := range out.Play {
		var signed string
		var err error
		switch f {
		case "rtmp":
			continue
		case "flv", "snapshot":
			signed, err = single(u)
		default:
			signed, err = family(u)
		}
		if err != nil {
			return err
		}
		out.Play[f] = signed
	}
	// RTMP play is checked as its FLV URL (the gateway verifies
	// /{id}/live.flv against the play domain), so it carries the FLV query.
	if flv, ok := out.Play["flv"]; ok {
		if _, q, found := strings.Cut(flv, "?"); found {
			out.Play["rtmp"] += "?" + q
		}
	}
	for _, m := range out.Renditions {
		for f, u := range m {
			var signed string
			var err error
			if f == "flv" {
				signed, err = single(u)
			} else {
				signed, err = family(u)
			}
			if err != nil {
				return err
			}
			m[f] = signed
		}
	}
	return nil
}

func urlUnescape(s string) (string, error) { return url.QueryUnescape(s) }
