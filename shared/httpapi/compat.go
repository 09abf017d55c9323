package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/store"
)

// The earlier solution's /videostream API (SEED-COMPAT.md): flat, stringly
// typed records mapped onto the same channels as /api/v1/channels. Booleans
// arrive as JSON booleans or "true"/"false", numbers as numbers or strings.
// Fields the channel model has no place for (task sizes, cluster, log level,
// on-demand timings) are kept beside the channel in the setting
// "videostream/{id}" and returned as they were sent. Unknown fields are
// ignored, as the earlier API did.

// settingCompat prefixes the setting holding a channel's unmapped flat fields.
const settingCompat = "videostream/"

// compatExtras are the flat fields kept as sent (strings) with their defaults.
var compatExtras = map[string]string{
	"recordSize": "small", "codecSize": "large", "masterSize": "small", "slaveSize": "small",
	"isRtmps": "false", "isCluster": "false", "clusterNumber": "1", "logLevel": "warning",
	"ondemand_time": "60", "ondemand_list_size": "2",
}

var compatSizes = map[string]bool{"micro": true, "small": true, "medium": true, "large": true, "xlarge": true}

var compatLogLevels = map[string]bool{"quiet": true, "panic": true, "fatal": true, "error": true, "warning": true, "info": true, "verbose": true, "debug": true}

// compatRenditions maps ld/sd/hd/ud onto rendition names.
var compatRenditions = []struct{ field, rendition string }{{"ld", "360p"}, {"sd", "480p"}, {"hd", "720p"}, {"ud", "1080p"}}

// flat is a parsed /videostream body.
type flat map[string]any

// parseFlat reads a flat record; it must be one JSON object.
func parseFlat(body []byte) (flat, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, &fieldError{field: "body", msg: "must be a JSON object"}
		}
		return nil, publicJSONError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: trailing data after the object")
	}
	if m == nil {
		return nil, &fieldError{field: "body", msg: "must be a JSON object"}
	}
	return flat(m), nil
}

func (f flat) has(k string) bool { _, ok := f[k]; return ok && f[k] != nil }

// boolean reads a JSON boolean or "true"/"false" (any case; "1"/"0" too).
func (f flat) boolean(k string, def bool) (bool, error) {
	v, ok := f[k]
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1":
			return true, nil
		case "false", "0", "":
			return false, nil
		}
	case json.Number:
		switch x.String() {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
	}
	return false, &fieldError{field: k, msg: `must be true or false (a boolean or the string "true"/"false")`}
}

// integer reads a JSON number or a numeric string in [lo, hi].
func (f flat) integer(k string, def, lo, hi int) (int, error) {
	v, ok := f[k]
	if !ok || v == nil {
		return def, nil
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			return def, nil
		}
	default:
		return 0, &fieldError{field: k, msg: "must be a number or a numeric string"}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || n != math.Trunc(n) || n < float64(lo) || n > float64(hi) {
		return 0, &fieldError{field: k, msg: fmt.Sprintf("must be a whole number %d-%d", lo, hi)}
	}
	return int(n), nil
}

// str reads a string (numbers are taken as their text).
func (f flat) str(k, def string) (string, error) {
	v, ok := f[k]
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", &fieldError{field: k, msg: "must be a string"}
}

// parseOutdate reads YYYY-MM-DD (or the console's YYYY/M/D); the channel
// expires at the end of that day, UTC.
func parseOutdate(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{"2006-01-02", "2006/1/2", "2006-1-2", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			if layout != time.RFC3339 {
				t = t.AddDate(0, 0, 1)
			}
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, &fieldError{field: "outdate", msg: "must be a date YYYY-MM-DD"}
}

// toChannel maps a flat record onto ch (fields absent from f take the flat
// API's defaults) and returns the unmapped fields to keep.
func (f flat) toChannel(ch *channel.Channel) (map[string]string, error) {
	var errs []error
	b := func(k string, def bool) bool {
		v, err := f.boolean(k, def)
		errs = append(errs, err)
		return v
	}
	n := func(k string, def, lo, hi int) int {
		v, err := f.integer(k, def, lo, hi)
		errs = append(errs, err)
		return v
	}
	s := func(k, def string) string {
		v, err := f.str(k, def)
		errs = append(errs, err)
		return v
	}
	ch.Name, ch.Description = s("videoname", ""), s("description", "")
	exp, err := parseOutdate(s("outdate", ""))
	errs = append(errs, err)
	ch.ExpiresAt = exp
	flv, hls := b("isFlv", false), b("isHls", false)
	ch.Outputs = channel.Outputs{FLV: &flv, HLS: &hls, CMAF: b("isCMAF", false),
		HLSSegmentSeconds: n("hls_time", 2, 1, 30), HLSListSize: n("hls_list_size", 6, 2, 60)}
	ch.Recording = channel.Recording{
		MP4: b("isVideo", false), MP4SegmentSeconds: n("video_time", 30, 1, 3600),
		HLSVOD:    b("isOnDemand", false),
		Snapshots: b("isImage", false), SnapshotSeconds: n("image_time", 10, 1, 3600),
		Motion: channel.Motion{Enabled: b("isMotion", false), DurationMillis: n("motion_duration", 5000, 100, 3600000),
			Percent: n("motion_percent", 30, 1, 100), TimeoutSeconds: n("motion_timeout", 60, 1, 3600), Diff: n("motion_diff", 10, 1, 255)},
	}
	ch.Transcode = channel.Transcode{Enabled: b("isCodec", false), Codec: s("codec", channel.DefaultCodec), Renditions: []string{}}
	for _, r := range compatRenditions {
		if b(r.field, false) {
			ch.Transcode.Renditions = append(ch.Transcode.Renditions, r.rendition)
		}
	}
	ch.Watermark = channel.Watermark{}
	top, left := n("WaterMarkTop", 0, 0, 8192), n("WaterMarkLeft", 0, 0, 8192)
	if b("isWaterMark", false) {
		ch.Watermark.Text = &channel.TextWatermark{Text: s("WaterMarkText", ""), FontSize: n("WaterMarkFontSize", 24, 0, 512),
			Color: s("WaterMarkFontColor", "white"), Top: top, Left: left}
	}
	if b("isImageWaterMark", false) {
		ch.Watermark.Image = &channel.ImageWatermark{URL: s("ImageURL", ""), Width: n("ImageWidth", 0, 0, 8192),
			Height: n("ImageHeight", 0, 0, 8192), Top: top, Left: left}
	}
	ch.Relay = []channel.Relay{}
	if b("isRelay", false) {
		ch.Relay = append(ch.Relay, channel.Relay{URL: s("relayURL", "")})
	}
	extras := map[string]string{}
	for k, def := range compatExtras {
		extras[k] = s(k, def)
	}
	for _, k := range []string{"recordSize", "codecSize", "masterSize", "slaveSize"} {
		if !compatSizes[extras[k]] {
			errs = append(errs, &fieldError{field: k, msg: "must be micro, small, medium, large or xlarge"})
		}
	}
	if !compatLogLevels[extras["logLevel"]] {
		errs = append(errs, &fieldError{field: "logLevel", msg: "must be an ffmpeg log level such as warning"})
	}
	for _, k := range []string{"isRtmps", "isCluster"} {
		v := b(k, false)
		extras[k] = strconv.FormatBool(v)
	}
	for k, hi := range map[string]int{"clusterNumber": 100, "ondemand_time": 3600, "ondemand_list_size": 1000} {
		v := n(k, 0, 0, hi)
		if f.has(k) {
			extras[k] = strconv.Itoa(v)
		}
	}
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return extras, nil
}

// toFlat renders a channel as the flat record (numbers as strings, as the
// earlier API stored them).
func toFlat(ch *channel.Channel, extras map[string]string) map[string]any {
	itoa := strconv.Itoa
	m := map[string]any{
		"id": ch.ID, "videoname": ch.Name, "description": ch.Description,
		"isFlv": ch.Outputs.FLVEnabled(), "isHls": ch.Outputs.HLSEnabled(), "isCMAF": ch.Outputs.CMAF,
		"hls_time": itoa(ch.Outputs.HLSSegmentSeconds), "hls_list_size": itoa(ch.Outputs.HLSListSize),
		"isVideo": ch.Recording.MP4, "video_time": itoa(ch.Recording.MP4SegmentSeconds),
		"isImage": ch.Recording.Snapshots, "image_time": itoa(ch.Recording.SnapshotSeconds),
		"isOnDemand": ch.Recording.HLSVOD,
		"isMotion":   ch.Recording.Motion.Enabled, "motion_duration": itoa(ch.Recording.Motion.DurationMillis),
		"motion_percent": itoa(ch.Recording.Motion.Percent), "motion_timeout": itoa(ch.Recording.Motion.TimeoutSeconds),
		"motion_diff": itoa(ch.Recording.Motion.Diff),
		"isCodec":     ch.Transcode.Enabled, "codec": ch.Transcode.Codec,
		"isWaterMark": ch.Watermark.Text != nil, "isImageWaterMark": ch.Watermark.Image != nil,
		"isRelay": len(ch.Relay) > 0, "enabled": ch.Enabled,
	}
	if ch.ExpiresAt != nil {
		m["outdate"] = ch.ExpiresAt.UTC().Add(-time.Nanosecond).Format("2006-01-02")
	} else {
		m["outdate"] = ""
	}
	for _, r := range compatRenditions {
		on := false
		for _, x := range ch.Transcode.Renditions {
			on = on || x == r.rendition
		}
		m[r.field] = on
	}
	if t := ch.Watermark.Text; t != nil {
		m["WaterMarkText"], m["WaterMarkFontSize"], m["WaterMarkFontColor"] = t.Text, itoa(t.FontSize), t.Color
		m["WaterMarkTop"], m["WaterMarkLeft"] = itoa(t.Top), itoa(t.Left)
	}
	if im := ch.Watermark.Image; im != nil {
		m["ImageURL"], m["ImageWidth"], m["ImageHeight"] = im.URL, itoa(im.Width), itoa(im.Height)
		m["WaterMarkTop"], m["WaterMarkLeft"] = itoa(im.Top), itoa(im.Left)
	}
	if len(ch.Relay) > 0 {
		m["relayURL"] = ch.Relay[0].URL
	}
	for k, def := range compatExtras {
		m[k] = def
		if v, ok := extras[k]; ok {
			m[k] = v
		}
	}
	for _, k := range []string{"isRtmps", "isCluster"} {
		m[k] = m[k] == "true"
	}
	return m
}

func (a *API) compatExtras(c *gin.Context, id string) (map[string]string, bool) {
	out := map[string]string{}
	b, err := a.cfg.Store.GetSetting(c.Request.Context(), settingCompat+id)
	if errors.Is(err, store.ErrNotFound) {
		return out, true
	}
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not read the channel", err)
		return nil, false
	}
	_ = json.Unmarshal(b, &out) // a damaged entry falls back to the defaults
	return out, true
}

func (a *API) saveCompatExtras(c *gin.Context, id string, extras map[string]string) bool {
	b, _ := json.Marshal(extras)
	if err := a.cfg.Store.PutSetting(c.Request.Context(), settingCompat+id, b); err != nil {
		a.fail(c, http.StatusInternalServerError, "store", "could not store the channel", err)
		return false
	}
	return true
}

// withURLs adds key (the push signature), pushUrl and the play URLs.
func (a *API) withURLs(c *gin.Context, ch *channel.Channel, m map[string]any) bool {
	urls, ok := a.urlsFor(c, ch)
	if !ok {
		return false
	}
	_, sign, _ := strings.Cut(urls.PushKey, "?sign=")
	if s, err := urlUnescape(sign); err == nil {
		sign = s
	}
	m["key"] = sign
	m["pushUrl"] = urls.Push
	for f, u := range urls.Play {
		m[f+"Url"] = u
	}
	return true
}

func (a *API) compatCreate(c *gin.Context) {
	body, ok := a.readBody(c)
	if !ok {
		return
	}
	f, err := parseFlat(body)
	if err != nil {
		a.fail(c, http.StatusBadRequest, jsonErrorCode(err), err.Error(), nil)
		return
	}
	ch := channel.Channel{Enabled: true}
	if id, _ := f.str("id", ""); id != "" {
		ch.ID = id
	} else {
		ch.ID = newUUID()
	}
	extras, err := f.toChannel(&ch)
	if err != nil {
		a.fail(c, http.StatusBadRequest, jsonErrorCode(err), err.Error(), nil)
		return
	}
	if !a.storeNewChannel(c, &ch) || !a.saveCompatExtras(c, ch.ID, extras) {
		return
	}
	m := toFlat(&ch, extras)
	if !a.withURLs(c, &ch, m) {
		return
	}
	c.Header("Location", "/videostream/"+ch.ID)
	c.JSON(http.StatusCreated, m)
}

// compatList lists every channel as flat records, without push signatures.
func (a *API) compatList(c *gin.Context) {
	out := []map[string]any{}
	cursor := ""
	for {
		page, err := a.cfg.Store.ListChannels(c.Request.Context(), store.ListOptions{Limit: store.MaxListLimit, Cursor: cursor})
		if err != nil {
			a.fail(c, http.StatusInternalServerError, "store", "could not list channels", err)
			return
		}
		for _, ch := range page.Channels {
			ch.Normalize()
			extras, ok := a.compatExtras(c, ch.ID)
			if !ok {
				return
			}
			out = append(out, toFlat(ch, extras))
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) compatGet(c *gin.Context) {
	ch, ok := a.loadChannel(c)
	if !ok {
		return
	}
	extras, ok := a.compatExtras(c, ch.ID)
	if !ok {
		return
	}
	m := toFlat(ch, extras)
	if a.withURLs(c, ch, m) {
		c.JSON(http.StatusOK, m)
	}
}

// compatPut updates the fields given; the others keep their values.
func (a *API) compatPut(c *gin.Context) {
	cur, ok := a.loadChannel(c)
	if !ok {
		return
	}
	body, ok := a.readBody(c)
	if !ok {
		return
	}
	f, err := parseFlat(body)
	if err != nil {
		a.fail(c, http.StatusBadRequest, jsonErrorCode(err), err.Error(), nil)
		return
	}
	if id, _ := f.str("id", cur.ID); id != cur.ID {
		a.fail(c, http.StatusBadRequest, "invalid_field", "id: cannot be changed", nil)
		return
	}
	extras, ok := a.compatExtras(c, cur.ID)
	if !ok {
		return
	}
	merged := flat(toFlat(cur, extras))
	for k, v := range f {
		merged[k] = v
	}
	ch := *cur
	newExtras, err := merged.toChannel(&ch)
	if err != nil {
		a.fail(c, http.StatusBadRequest, jsonErrorCode(err), err.Error(), nil)
		return
	}
	if en, err := f.boolean("enabled", cur.Enabled); err == nil {
		ch.Enabled = en
	}
	ch.UpdatedAt = a.cfg.Now().UTC()
	ch.Normalize()
	if err := ch.Validate(); err != nil {
		a.invalid(c, err)
		return
	}
	if !a.saveCompatExtras(c, ch.ID, newExtras) {
		return
	}
	if err := a.cfg.Store.UpdateChannel(c.Request.Context(), &ch); err != nil {
		a.storeFail(c, "channel", err)
		return
	}
	m := toFlat(&ch, newExtras)
	if a.withURLs(c, &ch, m) {
		c.JSON(http.StatusOK, m)
	}
}

func (a *API) compatDelete(c *gin.Context) {
	a.deleteChannel(c)
	if c.Writer.Status() == http.StatusNoContent {
		_ = a.cfg.Store.PutSetting(c.Request.Context(), settingCompat+c.Param("id"), []byte("{}"))
	}
}
