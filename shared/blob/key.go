package blob

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key in bytes, S3's limit. An S3 store with a key
// prefix allows correspondingly less.
const MaxKeyLen = 1024

// ValidateKey reports (wrapping ErrInvalidKey) whether key is unfit to name an
// object. A key is 1 to MaxKeyLen bytes of valid UTF-8 made of "/"-separated
// segments; it does not start or end with "/", has no empty, "." or ".."
// segment, and contains no backslash and no control character. These rules
// make every key a safe relative path on any filesystem and the same object
// name in S3.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if err := validatePath(key); err != nil {
		return err
	}
	if strings.HasSuffix(key, "/") {
		return fmt.Errorf("%w: %q ends with /", ErrInvalidKey, key)
	}
	return nil
}

// ValidatePrefix reports (wrapping ErrInvalidKey) whether prefix is unfit as
// a List prefix: the rules of ValidateKey, except that a prefix may be empty,
// may end with "/" and may end in a partial segment ("rec/ch" matches "rec/ch1/…").
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validatePath(strings.TrimSuffix(prefix, "/"))
}

func validatePath(p string) error {
	if len(p) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidKey, len(p), MaxKeyLen)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidKey, p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: %q contains a control character", ErrInvalidKey, p)
		}
		if r == '\\' {
			return fmt.Errorf("%w: %q contains a backslash", ErrInvalidKey, p)
		}
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w: %q starts with /", ErrInvalidKey, p)
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty segment", ErrInvalidKey, p)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrInvalidKey, p, seg)
		}
	}
	return nil
}
