package ingest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Callback actions sent in CallbackRequest.Action.
const (
	ActionPublish   = "publish"
	ActionRenew     = "renew"
	ActionUnpublish = "unpublish"
)

// CallbackRequest is the JSON body POSTed to the callback URL.
type CallbackRequest struct {
	Action string `json:"action"`
	PublishRequest
}

// CallbackResponse is the JSON the callback answers with.
type CallbackResponse struct {
	Allow      bool      `json:"allow"`
	Reason     string    `json:"reason,omitempty"`
	Grant      *Grant    `json:"grant,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitempty"`
}

// SignatureHeader carries "sha256=" + hex HMAC-SHA256 of timestamp + "." + body
// under the shared callback secret; TimestampHeader carries the unix seconds.
const (
	SignatureHeader = "X-Livestack-Signature"
	TimestampHeader = "X-Livestack-Timestamp"
)

// Callback asks an HTTP endpoint (the ingestauth function) to authorize.
// It fails closed: a publish is refused when the endpoint cannot be reached.
type Callback struct {
	URL string
	// Secret signs every request so the endpoint can trust it; required.
	Secret []byte
	// Client defaults to a client with a 5 s timeout.
	Client *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

var _ Authorizer = (*Callback)(nil)

// AuthorizePublish POSTs a publish request.
func (c *Callback) AuthorizePublish(ctx context.Context, req PublishRequest) (Grant, error) {
	return c.ask(ctx, ActionPublish, req)
}

// Renew POSTs a renew request. Transport failures are returned as plain errors
// (not refusals) so a callback outage does not cut live streams.
func (c *Callback) Renew(ctx context.Context, req PublishRequest) (Grant, error) {
	return c.ask(ctx, ActionRenew, req)
}

// Unpublish POSTs an unpublish request, retrying transient failures briefly.
func (c *Callback) Unpublish(ctx context.Context, req PublishRequest) error {
	var err error
	for attempt, wait := 0, 200*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*2 {
		if _, err = c.ask(ctx, ActionUnpublish, req); err == nil || errors.Is(err, ErrRefused) {
			return nil
		}
		if attempt == 2 {
			break // no pause after the last attempt
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("unpublish %s: %w", req.ChannelID, ctx.Err())
		case <-time.After(wait):
		}
	}
	return err
}

// Sign computes the signature header value for body at ts.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks a callback request's signature and that its timestamp
// is within skew of now; the ingestauth function uses it.
func VerifySignature(secret []byte, tsHeader, sigHeader string, body []byte, now time.Time, skew time.Duration) error {
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("callback timestamp: %w", err)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > skew || d < -skew {
		return fmt.Errorf("callback timestamp %d outside %s of now", ts, skew)
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sigHeader)) {
		return errors.New("callback signature mismatch")
	}
	return nil
}

func (c *Callback) ask(ctx context.Context, action string, req PublishRequest) (Grant, error) {
	body, err := json.Marshal(CallbackRequest{Action: action, PublishRequest: req})
	if err != nil {
		return Grant{}, fmt.Errorf("%s %s: encode: %w", action, req.ChannelID, err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ts := now().Unix()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return Grant{}, fmt.Errorf("%s %s: %w", action, req.ChannelID, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	hreq.Header.Set(SignatureHeader, Sign(c.Secret, ts, body))
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		if action == ActionPublish {
			return Grant{}, Refuse(ReasonUnavailable, err.Error())
		}
		return Grant{}, fmt.Errorf("%s %s: %w", action, req.ChannelID, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Grant{}, fmt.Errorf("%s %s: read answer: %w", action, req.ChannelID, err)
	}
	var ans CallbackResponse
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusForbidden {
		if err := json.Unmarshal(raw, &ans); err != nil {
			return Grant{}, c.unavailable(action, req, fmt.Errorf("decode answer: %w", err))
		}
	} else {
		return Grant{}, c.unavailable(action, req, fmt.Errorf("status %d", resp.StatusCode))
	}
	if !ans.Allow {
		reason := ans.Reason
		if reason == "" {
			reason = ReasonBadSignature
		}
		return Grant{}, Refuse(reason, "callback")
	}
	g := Grant{LeaseUntil: ans.LeaseUntil}
	if ans.Grant != nil {
		g = *ans.Grant
	}
	if g.Channel != nil {
		g.Channel.Normalize()
	}
	return g, nil
}

func (c *Callback) unavailable(action string, req PublishRequest, err error) error {
	if action == ActionPublish {
		return Refuse(ReasonUnavailable, err.Error())
	}
	return fmt.Errorf("%s %s: %w", action, req.ChannelID, err)
}
