package rtmpclient

import (
	"math"
	"strings"
)

// statusOf finds the code and description of a status object among args (the
// information object of a _result, _error or onStatus).
func statusOf(args []any) (code, desc string) {
	for _, a := range args {
		obj, ok := a.(map[string]any)
		if !ok {
			continue
		}
		if s, ok := obj["code"].(string); ok {
			code = s
			desc, _ = obj["description"].(string)
		}
	}
	return code, desc
}

// isErrorStatus reports whether an onStatus carries level "error".
func isErrorStatus(args []any) bool {
	for _, a := range args {
		if obj, ok := a.(map[string]any); ok {
			if lvl, _ := obj["level"].(string); strings.EqualFold(lvl, "error") {
				return true
			}
		}
	}
	return false
}

// streamIDOf returns the stream id of a createStream _result (the first number
// after the command object).
func streamIDOf(args []any) (uint32, bool) {
	for _, a := range args {
		if f, ok := a.(float64); ok && f >= 1 && f <= math.MaxUint32 && f == math.Trunc(f) {
			return uint32(f), true
		}
	}
	return 0, false
}

// joinStatus formats a status code and description for an error.
func joinStatus(code, desc string) string {
	switch {
	case code == "" && desc == "":
		return "no status given"
	case desc == "":
		return code
	case code == "":
		return desc
	}
	return code + " (" + desc + ")"
}
