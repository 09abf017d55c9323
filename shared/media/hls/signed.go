package hls

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Signed play URLs (CloudFront-style, see shared/playauth) sign one request. A player
// given a signed playlist URL fetches the playlist's segments, parts and init
// segments by the relative URIs inside it, without the signature, so a channel that
// requires signed playback would refuse them. When a playlist or manifest is
// requested with a signature, the signature parameters are appended to every URI in
// it. The signature must then cover the other files too: sign a custom policy for
// "https://host/{channelId}/*".

// signatureQuery returns the signature parameters of q ("" when unsigned).
func signatureQuery(raw string) string {
	if !strings.Contains(raw, "Signature=") {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return ""
	}
	out := url.Values{}
	for _, k := range []string{"Expires", "Policy", "Signature", "Key-Pair-Id"} {
		if v, ok := q[k]; ok {
			out[k] = v
		}
	}
	return out.Encode()
}

// addQuery appends q to every URI of an HLS playlist (URI lines and URI="..."
// attributes) or to a DASH manifest's initialization and media templates.
func addQuery(body []byte, q string, dash bool) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + 64*bytes.Count(body, []byte("\n")))
	if dash {
		for _, attr := range []string{`initialization="`, `media="`} {
			body = appendInAttr(body, attr, q)
		}
		return body
	}
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		nl := bytes.HasSuffix(line, []byte("\n"))
		l := bytes.TrimSuffix(line, []byte("\n"))
		switch {
		case len(l) == 0:
		case l[0] != '#':
			l = append(append(append([]byte(nil), l...), '?'), q...)
		default:
			l = appendInAttr(l, `URI="`, q)
		}
		b.Write(l)
		if nl {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// appendInAttr appends ?q inside every attr"..." value.
func appendInAttr(s []byte, attr, q string) []byte {
	var out []byte
	for {
		i := bytes.Index(s, []byte(attr))
		if i < 0 {
			return append(out, s...)
		}
		start := i + len(attr)
		end := bytes.IndexByte(s[start:], '"')
		if end < 0 {
			return append(out, s...)
		}
		out = append(out, s[:start+end]...)
		out = append(out, '?')
		out = append(out, q...)
		s = s[start+end:]
	}
}

// rewriter buffers a playlist response to add the signature to its URIs.
type rewriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (r *rewriter) WriteHeader(code int) { r.status = code }
func (r *rewriter) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.buf.Write(p)
}

func (r *rewriter) finish(q string, dash bool, head bool) {
	body := r.buf.Bytes()
	if r.status == http.StatusOK {
		body = addQuery(body, q, dash)
		// each signed URL gets its own playlist: never share it through a cache
		r.Header().Set("Cache-Control", "private, no-cache")
	}
	r.Header().Set("Content-Length", strconv.Itoa(len(body)))
	r.ResponseWriter.WriteHeader(r.status)
	if !head {
		_, _ = r.ResponseWriter.Write(body)
	}
}
