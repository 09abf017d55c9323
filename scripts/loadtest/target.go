package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// target is the server a latency or publishers run creates its channels on:
// one the harness started (-server-bin) or a running one (-api).
type target struct {
	srv  *server // nil with -api
	api  *apiClient
	base string // http://127.0.0.1:PORT, for playback and /metrics
	pid  int    // 0 when unknown (-api without -server-pid)
}

// openTarget starts -server-bin or checks -api.
func openTarget(ctx context.Context, cfg *config, log io.Writer) (*target, error) {
	if cfg.ServerBin != "" {
		srv, err := startServer(ctx, cfg.ServerBin, cfg.ServerArgs, cfg.MergeWindow, cfg.ServerLog, log)
		if err != nil {
			return nil, err
		}
		return &target{srv: srv, api: &apiClient{Base: srv.API, Token: srv.Token}, base: srv.API, pid: srv.PID()}, nil
	}
	if cfg.API == "" {
		return nil, fmt.Errorf("-mode %s creates channels: give -server-bin or -api", cfg.Mode)
	}
	u, err := loopbackURL(cfg.API)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(u.String(), "/")
	t := &target{api: &apiClient{Base: base, Token: cfg.Token}, base: base, pid: cfg.ServerPID}
	if t.pid > 0 {
		if _, err := readProc(t.pid); err != nil {
			return nil, fmt.Errorf("server process %d: %w", t.pid, err)
		}
	}
	return t, nil
}

// close stops the server the harness started.
func (t *target) close(log io.Writer) {
	if t.srv != nil {
		fmt.Fprintf(log, "loadtest: stopping the server\n")
		t.srv.Stop()
	}
}

// exitNote says whether the server died, for an error message.
func (t *target) exitNote() string {
	if t.srv == nil {
		return ""
	}
	select {
	case <-t.srv.Exited():
		return fmt.Sprintf("; the server exited (%v), its log ends:\n%s", t.srv.waitErr, tail(t.srv.logPath, 20))
	default:
		return ""
	}
}

// createChannel creates the channel described by body (its "id" is the
// channel id; an existing channel is reused as it is) and returns its push URL.
func (a *apiClient) createChannel(ctx context.Context, body map[string]any) (string, error) {
	id, _ := body["id"].(string)
	if _, ok := body["name"]; !ok {
		body["name"] = id
	}
	code, err := a.do(ctx, http.MethodPost, "/api/v1/channels", body, nil)
	if err != nil && code != http.StatusConflict {
		return "", err
	}
	var u channelURLs
	if _, err := a.do(ctx, http.MethodGet, "/api/v1/channels/"+url.PathEscape(id)+"/urls", nil, &u); err != nil {
		return "", err
	}
	if u.Push == "" {
		return "", fmt.Errorf("channel %s: the API gave no push URL", id)
	}
	pu, err := loopbackURL(u.Push)
	if err != nil {
		return "", fmt.Errorf("push URL: %w", err)
	}
	return pu.String(), nil
}
