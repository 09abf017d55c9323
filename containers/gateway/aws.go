package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The ingestauth function URL uses AWS_IAM auth (terraform/modules/api), so
// every callback is signed with SigV4 for the "lambda" service with the
// task role's credentials, on top of the contract's HMAC
// (docs/ingest-callback.md) that the function checks itself.

// sigv4Transport signs each request with SigV4 before sending it.
type sigv4Transport struct {
	creds   aws.CredentialsProvider
	region  string
	service string
	next    http.RoundTripper
	now     func() time.Time
}

func (t *sigv4Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("sigv4: read body: %w", err)
		}
		body = b
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	out.Header.Set("X-Amz-Content-Sha256", hash)
	creds, err := t.creds.Retrieve(req.Context())
	if err != nil {
		return nil, fmt.Errorf("sigv4: credentials: %w", err)
	}
	now := time.Now
	if t.now != nil {
		now = t.now
	}
	if err := v4.NewSigner().SignHTTP(req.Context(), creds, out, hash, t.service, t.region, now()); err != nil {
		return nil, fmt.Errorf("sigv4: sign: %w", err)
	}
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(out)
}

// isFunctionURL reports whether u is a Lambda function URL
// (https://ID.lambda-url.REGION.on.aws/).
func isFunctionURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := p.Hostname()
	return strings.Contains(h, ".lambda-url.") && (strings.HasSuffix(h, ".on.aws") || strings.HasSuffix(h, ".amazonaws.com.cn"))
}

// invokeTransport carries the callback over the Lambda Invoke API (when
// Terraform creates no function URL): the HTTP request becomes a
// function-URL-shaped event, the function's response becomes the HTTP
// response. The Invoke call itself is SigV4-signed by the wrapped transport.
type invokeTransport struct {
	// endpoint is the Lambda API base URL (https://lambda.REGION.amazonaws.com).
	endpoint string
	function string // name or ARN
	next     http.RoundTripper
}

// invokeEvent is the payload: the fields ingestfn.Request reads.
type invokeEvent struct {
	Version         string            `json:"version"`
	RawPath         string            `json:"rawPath"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	RequestContext  struct {
		HTTP struct {
			Method string `json:"method"`
			Path   string `json:"path"`
		} `json:"http"`
	} `json:"requestContext"`
}

type invokeResult struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func (t *invokeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("invoke: read body: %w", err)
		}
		body = b
	}
	ev := invokeEvent{Version: "2.0", RawPath: "/", Headers: map[string]string{}, Body: string(body)}
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = req.Method, "/"
	for k := range req.Header {
		ev.Headers[strings.ToLower(k)] = req.Header.Get(k)
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("invoke: encode: %w", err)
	}
	u := strings.TrimRight(t.endpoint, "/") + "/2015-03-31/functions/" + url.PathEscape(t.function) + "/invocations"
	inv, err := http.NewRequestWithContext(req.Context(), http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	inv.Header.Set("Content-Type", "application/json")
	inv.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	resp, err := t.next.RoundTrip(inv)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", t.function, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 6<<20))
	if err != nil {
		return nil, fmt.Errorf("invoke %s: read: %w", t.function, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke %s: status %d: %s", t.function, resp.StatusCode, truncate(raw))
	}
	if fe := resp.Header.Get("X-Amz-Function-Error"); fe != "" {
		return nil, fmt.Errorf("invoke %s: function error %s: %s", t.function, fe, truncate(raw))
	}
	var res invokeResult
	if err := json.Unmarshal(raw, &res); err != nil || res.StatusCode == 0 {
		return nil, fmt.Errorf("invoke %s: not an HTTP response: %s", t.function, truncate(raw))
	}
	h := http.Header{}
	for k, v := range res.Headers {
		h.Set(k, v)
	}
	return &http.Response{
		StatusCode: res.StatusCode, Status: fmt.Sprintf("%d %s", res.StatusCode, http.StatusText(res.StatusCode)),
		Header: h, Body: io.NopCloser(strings.NewReader(res.Body)), ContentLength: int64(len(res.Body)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req,
	}, nil
}

func truncate(b []byte) string {
	if len(b) > 256 {
		b = b[:256]
	}
	return string(b)
}

// advertiseFromECS returns the task's private IPv4 address with port, from
// the ECS task metadata endpoint (ECS_CONTAINER_METADATA_URI_V4), so the
// sessions and stream events name an address edges and workers can reach.
func advertiseFromECS(ctx context.Context, client *http.Client, port string) (string, error) {
	base := os.Getenv("ECS_CONTAINER_METADATA_URI_V4")
	if base == "" {
		return "", errors.New("not on ECS (ECS_CONTAINER_METADATA_URI_V4 unset)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/"), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("task metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("task metadata: status %d", resp.StatusCode)
	}
	var md struct {
		Networks []struct {
			IPv4Addresses []string `json:"IPv4Addresses"`
		} `json:"Networks"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil {
		return "", fmt.Errorf("task metadata: %w", err)
	}
	for _, n := range md.Networks {
		for _, ip := range n.IPv4Addresses {
			if net.ParseIP(ip) != nil {
				return net.JoinHostPort(ip, port), nil
			}
		}
	}
	return "", errors.New("task metadata: no IPv4 address")
}
