package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is a standalone binary the harness started: loopback ports, a
// temporary data dir and a random admin token.
type server struct {
	cmd     *exec.Cmd
	dir     string
	logPath string
	API     string // http://127.0.0.1:PORT
	Token   string
	exited  chan struct{}
	waitErr error
}

// startServer runs bin on free loopback ports and waits for /healthz.
func startServer(ctx context.Context, bin string, extra []string, mergeWindow time.Duration, logPath string, log io.Writer) (*server, error) {
	dir, err := os.MkdirTemp("", "livestack-loadtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, exited: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	rtmpAddr, httpAddr := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	s.Token, s.API = hex.EncodeToString(tok[:]), "http://"+httpAddr
	args := []string{"--rtmp-addr", rtmpAddr, "--http-addr", httpAddr, "--data-dir", filepath.Join(dir, "data"),
		"--public-host", "127.0.0.1", "--log-level", "warn"}
	if mergeWindow >= 0 {
		args = append(args, "--merge-window", mergeWindow.String())
	}
	args = append(args, extra...)
	if logPath == "" {
		logPath = filepath.Join(dir, "server.log")
	}
	s.logPath = logPath
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	// Not CommandContext: Stop ends it gracefully. Pdeathsig kills it if the
	// harness dies without cleaning up.
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), "LIVESTACK_ADMIN_TOKEN="+s.Token)
	s.cmd.Stdout, s.cmd.Stderr = lf, lf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	fmt.Fprintf(log, "loadtest: started %s (pid %d) rtmp %s http %s, log %s\n", filepath.Base(bin), s.cmd.Process.Pid, rtmpAddr, httpAddr, logPath)

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("server exited at start (%v):\n%s", s.waitErr, tail(logPath, 20))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get(s.API + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("server not healthy after 30 s:\n%s", tail(logPath, 20))
		}
	}
	ok = true
	return s, nil
}

// PID is the server's process id.
func (s *server) PID() int { return s.cmd.Process.Pid }

// Exited is closed when the server process ends.
func (s *server) Exited() <-chan struct{} { return s.exited }

// Stop sends SIGTERM, waits up to 12 s (the server promises 10), then kills
// it, and removes the temporary directory.
func (s *server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(12 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	os.RemoveAll(s.dir)
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// freePorts finds n free loopback TCP ports by binding :0, all at once so
// they differ. Another process could take one before the server binds it;
// the server then fails to start and says so.
func freePorts(n int) ([]string, error) {
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		_, p, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, p)
	}
	return ports, nil
}

// apiClient talks to /api/v1 with the admin token.
type apiClient struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// channelURLs is the /urls answer.
type channelURLs struct {
	Push string `json:"push"`
	Play struct {
		FLV  string `json:"flv"`
		RTMP string `json:"rtmp"`
	} `json:"play"`
}

// maxAPIAnswer bounds an API answer the harness reads.
const maxAPIAnswer = 256 << 20

func (a *apiClient) do(ctx context.Context, method, path string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := a.HTTP
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// /api/v1/streams at a few thousand streams is several megabytes.
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer+1))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if len(b) > maxAPIAnswer {
		return resp.StatusCode, fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxAPIAnswer)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// ensureChannel creates the channel (an existing one is reused) and returns
// its URLs. mergeWindow ≥ 0 sets the channel's merge window when it creates it.
func (a *apiClient) ensureChannel(ctx context.Context, id string, mergeWindow time.Duration, log io.Writer) (channelURLs, error) {
	body := map[string]any{"id": id, "name": id}
	if mergeWindow >= 0 {
		body["delivery"] = map[string]any{"mergeWindowMillis": mergeWindow.Milliseconds()}
	}
	code, err := a.do(ctx, http.MethodPost, "/api/v1/channels", body, nil)
	switch {
	case code == http.StatusConflict:
		if mergeWindow >= 0 {
			fmt.Fprintf(log, "loadtest: channel %q exists; its own merge window setting stays\n", id)
		}
	case err != nil:
		return channelURLs{}, err
	}
	var u channelURLs
	if _, err := a.do(ctx, http.MethodGet, "/api/v1/channels/"+url.PathEscape(id)+"/urls", nil, &u); err != nil {
		return u, err
	}
	return u, nil
}

// serverCounters are the /metrics figures a step reports.
type serverCounters struct {
	Skips       float64 `json:"keyframeSkips"`
	Dropped     float64 `json:"subscribersDropped"`
	TooSlow     float64 `json:"flvTooSlow"`
	WriteErrors float64 `json:"flvWriteErrors"`
	FLVViewers  float64 `json:"flvViewersAtEnd"`
}

var counterNames = map[string]func(*serverCounters) *float64{
	"livestack_subscriber_skips_total":     func(c *serverCounters) *float64 { return &c.Skips },
	"livestack_subscribers_dropped_total":  func(c *serverCounters) *float64 { return &c.Dropped },
	"livestack_flv_viewers_too_slow_total": func(c *serverCounters) *float64 { return &c.TooSlow },
	"livestack_flv_write_errors_total":     func(c *serverCounters) *float64 { return &c.WriteErrors },
	"livestack_flv_viewers":                func(c *serverCounters) *float64 { return &c.FLVViewers },
}

// scrapeCounters reads the unlabelled counters above from /metrics.
func scrapeCounters(ctx context.Context, base string) (serverCounters, error) {
	var c serverCounters
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return c, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return parseCounters(resp.Body, &c)
}

// parseCounters reads Prometheus text lines "name value" for the known names.
func parseCounters(r io.Reader, c *serverCounters) (serverCounters, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if f, ok := counterNames[name]; ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil {
				return *c, fmt.Errorf("/metrics: %s: %w", name, err)
			}
			*f(c) = v
		}
	}
	return *c, sc.Err()
}

// loopbackURL checks that raw is an http(s)/rtmp URL on a loopback host and
// rewrites "localhost" to 127.0.0.1, so the harness never loads anything
// but this machine.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "http", "rtmp":
	default:
		return nil, fmt.Errorf("%q: scheme must be http or rtmp", raw)
	}
	h := u.Hostname()
	if h == "localhost" {
		h = "127.0.0.1"
		if p := u.Port(); p != "" {
			u.Host = net.JoinHostPort(h, p)
		} else {
			u.Host = h
		}
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%q: the harness only targets loopback hosts (127.0.0.1, ::1, localhost)", raw)
	}
	return u, nil
}

var errNoTarget = errors.New("no target: give -server-bin, or -api with -token, or -push and -play")
