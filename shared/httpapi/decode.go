package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"
)

// decode reads exactly one JSON object from the body into v, refusing unknown
// fields, and answers 400/413 itself when it cannot.
func (a *API) decode(c *gin.Context, v any) bool {
	body, ok := a.readBody(c)
	if !ok {
		return false
	}
	if err := decodeStrict(body, v); err != nil {
		a.fail(c, http.StatusBadRequest, jsonErrorCode(err), err.Error(), nil)
		return false
	}
	return true
}

// readBody reads the whole body within the limit (413 past it).
func (a *API) readBody(c *gin.Context) ([]byte, bool) {
	if c.Request.Body == nil {
		return nil, true
	}
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.fail(c, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body over %d bytes", mbe.Limit), nil)
			return nil, false
		}
		a.fail(c, http.StatusBadRequest, "bad_body", "could not read the request body", nil)
		return nil, false
	}
	return b, true
}

// fieldError is a decode error naming the field; its code is invalid_field.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func jsonErrorCode(err error) string {
	var fe *fieldError
	if errors.As(err, &fe) {
		return "invalid_field"
	}
	return "bad_json"
}

// decodeStrict decodes one JSON value from body into v (unknown fields
// refused, nothing may follow) and rewrites encoding/json's errors so that no
// Go type or package name reaches the client.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return publicJSONError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: trailing data after the object")
	}
	return nil
}

func publicJSONError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		tpe *time.ParseError
	)
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("invalid JSON: empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of input")
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := jsonPath(typ.Field)
		if field == "" {
			return &fieldError{field: "body", msg: "must be a JSON object"}
		}
		return &fieldError{field: field, msg: "must be " + jsonKind(typ.Type.Kind().String()) + ", got " + typ.Value}
	case errors.As(err, &tpe):
		return &fieldError{field: "time", msg: fmt.Sprintf("%q is not an RFC 3339 time such as 2030-12-09T00:00:00Z", tpe.Value)}
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &fieldError{field: strings.Trim(name, `"`), msg: "unknown field"}
	}
	return errors.New("invalid JSON")
}

// jsonPath drops Go struct names (capitalized, from embedding) from a
// decoder field path: "Channel.outputs.hlsListSize" -> "outputs.hlsListSize".
func jsonPath(p string) string {
	parts := strings.Split(p, ".")
	out := parts[:0]
	for _, s := range parts {
		if s != "" && !unicode.IsUpper(rune(s[0])) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ".")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "float32", "float64":
		return "a number"
	}
	if strings.HasPrefix(k, "int") || strings.HasPrefix(k, "uint") {
		return "an integer"
	}
	return "another type"
}
