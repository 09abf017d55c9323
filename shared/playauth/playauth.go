// Package playauth signs and verifies play URLs the way CloudFront does, so one
// signed URL works behind CloudFront and against the standalone server or the
// edge: canned policies (Expires, Signature, Key-Pair-Id) and custom policies
// (Policy, Signature, Key-Pair-Id) with an optional source-IP range, RSA-SHA1
// signatures in CloudFront's URL-safe base64 (- for +, _ for =, ~ for /).
//
// Signing goes through github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign.
// That package has no verifier, so Verify rebuilds the canned policy with the
// same package (sign.NewCannedPolicy, JSON-encoded the way it encodes it) and
// checks the signature with the public key: the bytes signed are the bytes
// checked.
package playauth

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// Refusals; every error from Verify wraps exactly one of them.
var (
	// ErrUnsigned: the URL carries none of the signature parameters.
	ErrUnsigned = errors.New("play URL not signed")
	// ErrMalformed: signature parameters are missing, repeated or not decodable.
	ErrMalformed = errors.New("play URL signature malformed")
	// ErrUnknownKey: Key-Pair-Id names no key this verifier has.
	ErrUnknownKey = errors.New("play URL signed with an unknown key pair")
	// ErrBadSignature: the signature does not match the URL (tampered, other path).
	ErrBadSignature = errors.New("play URL signature invalid")
	// ErrWrongResource: a custom policy was signed for another resource.
	ErrWrongResource = errors.New("play URL policy is for another resource")
	// ErrExpired: the signature is genuine but its DateLessThan has passed.
	ErrExpired = errors.New("play URL expired")
	// ErrNotYetValid: the policy's DateGreaterThan has not come yet.
	ErrNotYetValid = errors.New("play URL not yet valid")
	// ErrIPMismatch: the client's address is outside the policy's IP range.
	ErrIPMismatch = errors.New("play URL not valid from this address")
)

// Query parameter names CloudFront uses.
const (
	ParamExpires   = "Expires"
	ParamPolicy    = "Policy"
	ParamSignature = "Signature"
	ParamKeyPairID = "Key-Pair-Id"
)

// Signer signs play URLs with one key pair. It is safe for concurrent use.
type Signer struct {
	keyID string
	priv  *rsa.PrivateKey
}

// NewSigner returns a signer for the CloudFront public key id keyID.
func NewSigner(keyID string, priv *rsa.PrivateKey) (*Signer, error) {
	if keyID == "" || priv == nil {
		return nil, errors.New("play signer: key id and private key are required")
	}
	return &Signer{keyID: keyID, priv: priv}, nil
}

// KeyID is the key pair id put in Key-Pair-Id.
func (s *Signer) KeyID() string { return s.keyID }

// PublicKey is the key verifiers need.
func (s *Signer) PublicKey() *rsa.PublicKey { return &s.priv.PublicKey }

// Sign returns rawURL signed with a canned policy valid until expires.
func (s *Signer) Sign(rawURL string, expires time.Time) (string, error) {
	out, err := sign.NewURLSigner(s.keyID, s.priv).Sign(rawURL, expires)
	if err != nil {
		return "", fmt.Errorf("sign play URL: %w", err)
	}
	return out, nil
}

// SignPolicy returns rawURL signed with a custom policy for resource (rawURL
// when empty; '*' wildcards allowed), valid until expires and, when ipRange is
// not empty, only from that CIDR range ("203.0.113.0/24", or one address).
func (s *Signer) SignPolicy(rawURL, resource string, expires time.Time, ipRange string) (string, error) {
	if resource == "" {
		resource = rawURL
	}
	p := &sign.Policy{Statements: []sign.Statement{{
		Resource:  resource,
		Condition: sign.Condition{DateLessThan: sign.NewAWSEpochTime(expires)},
	}}}
	if ipRange != "" {
		if _, err := parseRange(ipRange); err != nil {
			return "", fmt.Errorf("sign play URL: ip range %q: %w", ipRange, err)
		}
		p.Statements[0].Condition.IPAddress = &sign.IPAddress{SourceIP: ipRange}
	}
	out, err := sign.NewURLSigner(s.keyID, s.priv).SignWithPolicy(rawURL, p)
	if err != nil {
		return "", fmt.Errorf("sign play URL: %w", err)
	}
	return out, nil
}

var _ crypto.Signer = (*rsa.PrivateKey)(nil)
