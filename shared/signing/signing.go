// Package signing signs and verifies push URLs (DESIGN.md, "Push URL"):
//
//	rtmp://HOST:1935/stream/{channelId}?sign={expiresUnix}-{hexHMAC}
//
// where hexHMAC is HMAC-SHA256 over "/stream/{channelId}-{expiresUnix}" with the
// platform push key. The expiry is canonical decimal (no sign, no leading
// zeros), so every signature has exactly one spelling apart from hex case.
// The package also loads, creates and decodes that key.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Verify refusals; every error from Verify and ParseSign wraps exactly one.
var (
	// ErrMissing: the URL carries no sign value.
	ErrMissing = errors.New("push signature missing")
	// ErrMalformed: the sign value is not {expiresUnix}-{64 hex digits}.
	ErrMalformed = errors.New("push signature malformed")
	// ErrExpired: the signature is genuine but its expiry has passed.
	ErrExpired = errors.New("push signature expired")
	// ErrBadSignature: the HMAC does not match the channel and expiry.
	ErrBadSignature = errors.New("push signature invalid")
)

const (
	// MinKeySize is the shortest push key New accepts, in bytes.
	MinKeySize = 32
	// macHexLen is the length of a hex-encoded HMAC-SHA256.
	macHexLen = 2 * sha256.Size
	// maxExpiryDigits is the length of the largest int64.
	maxExpiryDigits = 19
	// MaxSignLength bounds a sign value: expiry, '-', HMAC.
	MaxSignLength = maxExpiryDigits + 1 + macHexLen
)

// Signer signs and verifies push URLs with one key. It is safe for concurrent use.
type Signer struct {
	key []byte
}

// New returns a Signer for key, which must be at least MinKeySize bytes. The
// key is copied.
func New(key []byte) (*Signer, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("new signer: %w: %d bytes, need at least %d", ErrShortKey, len(key), MinKeySize)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Sign returns the sign query value letting channelID publish until expires.
// Expiries before 1970 are signed as 0, which is always expired.
func (s *Signer) Sign(channelID string, expires time.Time) string {
	exp := max(expires.Unix(), 0)
	return strconv.FormatInt(exp, 10) + "-" + hex.EncodeToString(s.mac(channelID, exp))
}

// Verify checks that sign lets channelID publish at now. The HMAC is checked
// (in constant time) before the expiry, so ErrExpired is only reported for
// signatures this key made.
func (s *Signer) Verify(channelID, sign string, now time.Time) error {
	exp, mac, err := ParseSign(sign)
	if err != nil {
		return fmt.Errorf("verify push signature: %w", err)
	}
	if !hmac.Equal(mac, s.mac(channelID, exp)) {
		return fmt.Errorf("verify push signature: %w", ErrBadSignature)
	}
	if now.Unix() >= exp {
		return fmt.Errorf("verify push signature: %w: at %s", ErrExpired,
			time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// ForEpoch returns the signer of a channel's push key epoch (channel.Channel.
// PushKeyEpoch): epoch 0 is s itself; epoch n > 0 signs with
// HMAC-SHA256(key, "livestack push key epoch n"), so bumping a channel's epoch
// invalidates every push URL signed for it before, and no other channel's.
func (s *Signer) ForEpoch(epoch int64) *Signer {
	if epoch <= 0 {
		return s
	}
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("livestack push key epoch " + strconv.FormatInt(epoch, 10)))
	return &Signer{key: h.Sum(nil)}
}

// mac is HMAC-SHA256 over "/stream/{channelID}-{exp}". The message is
// unambiguous: exp has no '-', so it is whatever follows the last '-'.
func (s *Signer) mac(channelID string, exp int64) []byte {
	h := hmac.New(sha256.New, s.key)
	msg := make([]byte, 0, len("/stream/")+len(channelID)+1+maxExpiryDigits)
	msg = append(msg, "/stream/"...)
	msg = append(msg, channelID...)
	msg = append(msg, '-')
	msg = strconv.AppendInt(msg, exp, 10)
	h.Write(msg)
	return h.Sum(nil)
}

// ParseSign splits a sign value into its expiry (Unix seconds) and HMAC. It
// accepts exactly: a canonical non-negative decimal int64 (digits only, no
// leading zeros), '-', then 64 hex digits of either case. The error wraps
// ErrMissing for an empty value and ErrMalformed for anything else.
func ParseSign(sign string) (expires int64, mac []byte, err error) {
	if sign == "" {
		return 0, nil, ErrMissing
	}
	if len(sign) > MaxSignLength {
		return 0, nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxSignLength)
	}
	digits, macHex, ok := strings.Cut(sign, "-")
	if !ok {
		return 0, nil, fmt.Errorf("%w: no '-' between expiry and signature", ErrMalformed)
	}
	if len(digits) == 0 || len(digits) > maxExpiryDigits || !allDigits(digits) {
		return 0, nil, fmt.Errorf("%w: expiry is not 1-%d decimal digits", ErrMalformed, maxExpiryDigits)
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, nil, fmt.Errorf("%w: expiry has leading zeros", ErrMalformed)
	}
	expires, err = strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: expiry out of range", ErrMalformed)
	}
	if len(macHex) != macHexLen {
		return 0, nil, fmt.Errorf("%w: signature is %d characters, want %d hex digits", ErrMalformed, len(macHex), macHexLen)
	}
	mac, err = hex.DecodeString(macHex)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: signature is not hexadecimal", ErrMalformed)
	}
	return expires, mac, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// SourceToken is the token an internal reader (the AWS worker) presents to
// read a watermarked channel's raw source from the gateway
// (playback.SourceTokenHeader): HMAC-SHA256 of the channel id under the push
// key, in a domain of its own so it is never a valid push signature. It does
// not expire; it names one channel, and only the push key's holders can make it.
func (s *Signer) SourceToken(channelID string) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("livestack raw source v1\x00" + channelID))
	return hex.EncodeToString(h.Sum(nil))
}
