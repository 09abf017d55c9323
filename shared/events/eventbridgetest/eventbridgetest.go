// Package eventbridgetest is an HTTP endpoint that answers EventBridge
// PutEvents calls (JSON protocol) for tests and records every entry; point
// the SDK at it with BaseEndpoint or AWS_ENDPOINT_URL_EVENTBRIDGE.
package eventbridgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Entry is one recorded PutEvents entry.
type Entry struct {
	Source       string `json:"Source"`
	DetailType   string `json:"DetailType"`
	Detail       string `json:"Detail"`
	EventBusName string `json:"EventBusName"`
	Time         any    `json:"Time"`
}

// Server is the fake endpoint.
type Server struct {
	URL     string
	mu      sync.Mutex
	entries []Entry
	calls   int
}

// New starts a fake EventBridge; it stops when the test ends.
func New(t testing.TB) *Server {
	s := &Server{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// ServeHTTP implements PutEvents.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ValidationException","message":"unexpected request"}`))
		return
	}
	var in struct{ Entries []Entry }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.calls++
	s.entries = append(s.entries, in.Entries...)
	s.mu.Unlock()
	var out struct {
		FailedEntryCount int
		Entries          []map[string]string
	}
	for i := range in.Entries {
		out.Entries = append(out.Entries, map[string]string{"EventId": fmt.Sprintf("evt-%d", i)})
	}
	_ = json.NewEncoder(w).Encode(out)
}

// Entries returns the recorded entries.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.entries...)
}
