// Package ecstest is an HTTP endpoint that speaks enough of the ECS JSON API
// (RunTask, StopTask, DescribeTasks) for tests: the SDK client is pointed at
// it, it records every call and answers like ECS.
package ecstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

const targetPrefix = "AmazonEC2ContainerServiceV20141113."

// Call is one recorded request.
type Call struct {
	Op   string         // "RunTask", "StopTask", "DescribeTasks"
	Body map[string]any // the decoded JSON request
}

// Server is the fake ECS endpoint.
type Server struct {
	URL string

	mu    sync.Mutex
	calls []Call
	seq   int
	// byToken makes RunTask idempotent on clientToken, like ECS.
	byToken map[string]string
	tasks   map[string]string // arn -> lastStatus
	// FailRunTask, when set, makes RunTask answer with this failure reason.
	FailRunTask string
}

// New starts a fake ECS; it is closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{byToken: map[string]string{}, tasks: map[string]string{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Client returns an ECS client talking to s.
func (s *Server) Client() *ecs.Client {
	return ecs.New(ecs.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
}

// Calls returns the recorded calls of op ("" for all).
func (s *Server) Calls(op string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if op == "" || c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// SetStatus sets the lastStatus DescribeTasks reports for arn.
func (s *Server) SetStatus(arn, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks[arn] = status
}

// ServeHTTP implements the JSON protocol (awsJson1_1).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if !ok || json.Unmarshal(raw, &body) != nil {
		writeErr(w, "InvalidParameterException", "bad request")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeErr(w, "AccessDeniedException", "unsigned request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Op: op, Body: body})
	switch op {
	case "RunTask":
		if s.FailRunTask != "" {
			writeJSON(w, map[string]any{"tasks": []any{}, "failures": []any{map[string]any{"reason": s.FailRunTask}}})
			return
		}
		token, _ := body["clientToken"].(string)
		arn, seen := s.byToken[token]
		if !seen || token == "" {
			s.seq++
			cluster, _ := body["cluster"].(string)
			arn = fmt.Sprintf("arn:aws:ecs:eu-west-1:111122223333:task/%s/%032x", lastPart(cluster), s.seq)
			s.byToken[token] = arn
			s.tasks[arn] = "PROVISIONING"
		}
		writeJSON(w, map[string]any{"tasks": []any{map[string]any{
			"taskArn": arn, "lastStatus": s.tasks[arn], "taskDefinitionArn": body["taskDefinition"],
		}}, "failures": []any{}})
	case "StopTask":
		arn, _ := body["task"].(string)
		if _, known := s.tasks[arn]; !known {
			writeErr(w, "InvalidParameterException", "The referenced task was not found.")
			return
		}
		s.tasks[arn] = "STOPPED"
		writeJSON(w, map[string]any{"task": map[string]any{"taskArn": arn, "lastStatus": "RUNNING", "desiredStatus": "STOPPED"}})
	case "DescribeTasks":
		var tasks []any
		list, _ := body["tasks"].([]any)
		for _, a := range list {
			arn, _ := a.(string)
			if st, known := s.tasks[arn]; known {
				tasks = append(tasks, map[string]any{"taskArn": arn, "lastStatus": st})
			}
		}
		writeJSON(w, map[string]any{"tasks": tasks, "failures": []any{}})
	default:
		writeErr(w, "UnsupportedOperation", op)
	}
}

func lastPart(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// Env returns the container override environment of a recorded RunTask.
func Env(c Call) map[string]string {
	out := map[string]string{}
	ov, _ := c.Body["overrides"].(map[string]any)
	cos, _ := ov["containerOverrides"].([]any)
	for _, co := range cos {
		m, _ := co.(map[string]any)
		envs, _ := m["environment"].([]any)
		for _, e := range envs {
			kv, _ := e.(map[string]any)
			k, _ := kv["name"].(string)
			v, _ := kv["value"].(string)
			out[k] = v
		}
	}
	return out
}
