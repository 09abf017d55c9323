package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// operation documents one route in the OpenAPI document. The list is kept by
// hand next to routes(); TestOpenAPIMatchesRoutes holds the two together.
type operation struct {
	method, path, summary, tag string
	params                     []string // query parameters
	body                       string   // request schema name, "" for none
	ok                         int
	okSchema                   string // response schema name, "" for none, "png" for an image
}

var operations = []operation{
	{"GET", "/api/v1/openapi.json", "This document", "meta", nil, "", 200, "Object"},
	{"POST", "/api/v1/channels", "Create a channel (omitted fields take defaults)", "channels", nil, "Channel", 201, "Channel"},
	{"GET", "/api/v1/channels", "List channels, ordered by id", "channels", []string{"limit", "cursor"}, "", 200, "ChannelPage"},
	{"GET", "/api/v1/channels/{id}", "Get a channel", "channels", nil, "", 200, "Channel"},
	{"PUT", "/api/v1/channels/{id}", "Replace a channel (omitted fields take defaults)", "channels", nil, "Channel", 200, "Channel"},
	{"PATCH", "/api/v1/channels/{id}", "Change some fields (JSON merge patch, RFC 7396)", "channels", nil, "Object", 200, "Channel"},
	{"DELETE", "/api/v1/channels/{id}", "Delete a channel and end its stream", "channels", nil, "", 204, ""},
	{"GET", "/api/v1/channels/{id}/urls", "Signed push URL and play URLs; ?qr= returns a PNG QR code", "channels", []string{"qr", "ip"}, "", 200, "ChannelURLs"},
	{"POST", "/api/v1/channels/{id}/rotate-key", "New push key: earlier push URLs stop working, the live publisher is disconnected", "channels", nil, "", 200, "ChannelURLs"},
	{"GET", "/api/v1/streams", "Streams live now, with stats", "streams", nil, "", 200, "StreamList"},
	{"GET", "/api/v1/recordings", "List recordings, newest first", "recordings", []string{"channel", "kind", "since", "until", "limit", "cursor"}, "", 200, "RecordingPage"},
	{"GET", "/api/v1/recordings/{id}", "Get a recording", "recordings", nil, "", 200, "Recording"},
	{"DELETE", "/api/v1/recordings/{id}", "Delete a recording and its files", "recordings", nil, "", 204, ""},
	{"GET", "/api/v1/domains", "Push and play domains URLs are built on", "settings", nil, "", 200, "Domains"},
	{"PUT", "/api/v1/domains", "Set the push and play domains", "settings", nil, "Domains", 200, "Domains"},
	{"GET", "/api/v1/templates", "Transcode templates (the rendition ladder)", "settings", nil, "", 200, "TemplateList"},
	{"GET", "/api/v1/templates/{id}", "Get a template (360p, 480p, 720p, 1080p)", "settings", nil, "", 200, "Template"},
	{"PUT", "/api/v1/templates/{id}", "Edit a template", "settings", nil, "Template", 200, "Template"},
	{"GET", "/api/v1/keys", "List API keys (never their secrets)", "keys", nil, "", 200, "KeyList"},
	{"POST", "/api/v1/keys", "Create an API key; the secret is in this response only", "keys", nil, "KeyInput", 201, "CreatedKey"},
	{"DELETE", "/api/v1/keys/{id}", "Revoke an API key", "keys", nil, "", 204, ""},
	{"GET", "/videostream", "Earlier solution: list channels as flat records (no push keys)", "compat", nil, "", 200, "FlatList"},
	{"POST", "/videostream", "Earlier solution: create a channel from a flat record", "compat", nil, "Flat", 201, "Flat"},
	{"GET", "/videostream/{id}", "Earlier solution: get a flat record with its push key", "compat", nil, "", 200, "Flat"},
	{"PUT", "/videostream/{id}", "Earlier solution: update the given flat fields", "compat", nil, "Flat", 200, "Flat"},
	{"DELETE", "/videostream/{id}", "Earlier solution: delete a channel", "compat", nil, "", 204, ""},
}

var queryDocs = map[string]string{
	"limit":   "page size, 1-1000 (default 50)",
	"cursor":  "the next value of the previous page",
	"qr":      "push, flv, rtmp, hls, cmaf, dash, abr or snapshot: answer with a PNG QR code of that URL",
	"ip":      "signed play URLs only valid from this address or CIDR range (custom policy)",
	"channel": "only this channel's recordings",
	"kind":    "mp4, hls, snapshot or motion",
	"since":   "started at or after (RFC 3339)",
	"until":   "started before (RFC 3339)",
}

func ref(name string) map[string]any {
	if name == "png" {
		return map[string]any{"image/png": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
	}
	return map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + name}}}
}

// openAPIDocument builds the OpenAPI 3 document.
func openAPIDocument() map[string]any {
	paths := map[string]any{}
	errResp := func(d string) map[string]any { return map[string]any{"description": d, "content": ref("Error")} }
	for _, op := range operations {
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.path] = item
		}
		var params []any
		if strings.Contains(op.path, "{id}") {
			params = append(params, map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"}})
		}
		for _, q := range op.params {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "description": queryDocs[q], "schema": map[string]any{"type": "string"}})
		}
		ok := map[string]any{"description": http.StatusText(op.ok)}
		if op.okSchema != "" {
			ok["content"] = ref(op.okSchema)
		}
		responses := map[string]any{
			strconv.Itoa(op.ok): ok,
			"401":               errResp("no valid credentials"),
			"500":               errResp("internal error (details in the server log under the X-Request-Id)"),
		}
		if op.path == "/api/v1/channels/{id}/urls" {
			ok["content"] = map[string]any{"application/json": ref("ChannelURLs")["application/json"], "image/png": ref("png")["image/png"]}
		}
		if op.body != "" || len(params) > 0 {
			responses["400"] = errResp("invalid request; the message names the field")
		}
		if strings.Contains(op.path, "{id}") {
			responses["404"] = errResp("not found")
		}
		o := map[string]any{
			"summary": op.summary, "tags": []string{op.tag}, "responses": responses,
			"operationId": strings.ToLower(op.method) + strings.NewReplacer("/api/v1", "", "/", "_", "{", "", "}", "", "-", "_", ".", "_").Replace(op.path),
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.body != "" {
			o["requestBody"] = map[string]any{"required": true, "content": ref(op.body)}
		}
		item[strings.ToLower(op.method)] = o
	}
	paths["/healthz"] = map[string]any{"get": map[string]any{
		"summary": "Liveness (no credentials)", "tags": []string{"meta"}, "operationId": "healthz", "security": []any{},
		"responses": map[string]any{"200": map[string]any{"description": "OK"}},
	}}
	obj := map[string]any{"type": "object"}
	str := map[string]any{"type": "string"}
	arr := func(s string) map[string]any {
		return map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/" + s}}
	}
	object := func(props map[string]any) map[string]any {
		return map[string]any{"type": "object", "properties": props}
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title": "livestack API", "version": "1",
			"description": "Channels, live streams, recordings, domains, transcode templates and API keys. Errors are {\"error\":{\"code\",\"message\"}}. See docs/api.md.",
		},
		"security": []any{map[string]any{"bearer": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "the admin token or an API key (lsk_...)"}},
			"schemas": map[string]any{
				"Object":        obj,
				"Error":         object(map[string]any{"error": object(map[string]any{"code": str, "message": str})}),
				"Channel":       map[string]any{"type": "object", "description": "the channel JSON of docs/channels.md", "properties": map[string]any{"id": str, "name": str, "description": str, "expiresAt": map[string]any{"type": "string", "format": "date-time"}, "enabled": map[string]any{"type": "boolean"}, "outputs": obj, "recording": obj, "transcode": obj, "watermark": obj, "relay": map[string]any{"type": "array", "items": obj}, "playAuth": map[string]any{"type": "boolean"}, "delivery": obj}},
				"ChannelPage":   object(map[string]any{"channels": arr("Channel"), "next": str}),
				"ChannelURLs":   object(map[string]any{"push": str, "pushServer": str, "pushKey": str, "pushExpiresAt": str, "play": map[string]any{"type": "object", "additionalProperties": str}, "renditions": obj, "playExpiresAt": str}),
				"StreamList":    object(map[string]any{"streams": map[string]any{"type": "array", "items": obj}}),
				"Recording":     object(map[string]any{"id": str, "channelId": str, "kind": str, "status": str, "startedAt": str, "endedAt": str, "durationMillis": map[string]any{"type": "integer"}, "bytes": map[string]any{"type": "integer"}, "prefix": str, "keys": map[string]any{"type": "array", "items": str}, "playlist": str}),
				"RecordingPage": object(map[string]any{"recordings": arr("Recording"), "next": str}),
				"Domains":       object(map[string]any{"push": str, "play": str, "effective": obj}),
				"Template":      object(map[string]any{"id": str, "name": str, "width": map[string]any{"type": "integer"}, "height": map[string]any{"type": "integer"}, "videoKbps": map[string]any{"type": "integer"}, "maxKbps": map[string]any{"type": "integer"}, "bufferKbps": map[string]any{"type": "integer"}, "audioKbps": map[string]any{"type": "integer"}, "bandwidth": map[string]any{"type": "integer"}}),
				"TemplateList":  object(map[string]any{"templates": arr("Template")}),
				"KeyInput":      object(map[string]any{"name": str, "expiresAt": str}),
				"Key":           object(map[string]any{"id": str, "name": str, "prefix": str, "createdAt": str, "expiresAt": str}),
				"CreatedKey":    object(map[string]any{"id": str, "name": str, "prefix": str, "createdAt": str, "expiresAt": str, "secret": str}),
				"KeyList":       object(map[string]any{"keys": arr("Key")}),
				"Flat":          map[string]any{"type": "object", "description": "the earlier solution's flat record (SEED-COMPAT.md): booleans as booleans or \"true\"/\"false\", numbers as numbers or strings", "additionalProperties": true},
				"FlatList":      arr("Flat"),
			},
		},
	}
}

func (a *API) openAPI(c *gin.Context) { c.JSON(http.StatusOK, openAPIDocument()) }
