package signing

import (
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseSign checks that ParseSign never panics, refuses with one of its two
// sentinels, and accepts only the canonical spelling (up to hex case).
func FuzzParseSign(f *testing.F) {
	for _, tc := range parseCases() {
		f.Add(tc.sign)
	}
	for _, tc := range verifyCases() {
		f.Add(tc.sign)
	}
	f.Fuzz(func(t *testing.T, sign string) {
		exp, mac, err := ParseSign(sign)
		if err != nil {
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseSign(%q): error %v wraps neither ErrMissing nor ErrMalformed", sign, err)
			}
			if exp != 0 || mac != nil {
				t.Fatalf("ParseSign(%q): refused but returned %d, %x", sign, exp, mac)
			}
			return
		}
		if exp < 0 || len(mac) != 32 || len(sign) > MaxSignLength {
			t.Fatalf("ParseSign(%q) = %d, %x: out of range", sign, exp, mac)
		}
		canonical := strconv.FormatInt(exp, 10) + "-" + hex.EncodeToString(mac)
		if canonical != strings.ToLower(sign) {
			t.Fatalf("ParseSign(%q) accepted a non-canonical spelling of %q", sign, canonical)
		}
	})
}

// FuzzVerify checks that Verify never panics, returns exactly one sentinel,
// accepts only what Sign produced, and that Sign/Verify round-trip for any
// channel id and time.
func FuzzVerify(f *testing.F) {
	for _, tc := range verifyCases() {
		f.Add(tc.channel, tc.sign, tc.now)
	}
	s, err := New(testKey())
	if err != nil {
		f.Fatal(err)
	}
	sentinels := []error{ErrMissing, ErrMalformed, ErrExpired, ErrBadSignature}
	f.Fuzz(func(t *testing.T, channelID, sign string, now int64) {
		at := time.Unix(now, 0)
		err := s.Verify(channelID, sign, at)
		if err != nil {
			matched := 0
			for _, sentinel := range sentinels {
				if errors.Is(err, sentinel) {
					matched++
				}
			}
			if matched != 1 {
				t.Fatalf("Verify(%q, %q, %d): error %v matches %d sentinels, want 1", channelID, sign, now, err, matched)
			}
		} else {
			exp, _, perr := ParseSign(sign)
			if perr != nil {
				t.Fatalf("Verify(%q, %q, %d) accepted what ParseSign refuses: %v", channelID, sign, now, perr)
			}
			if want := s.Sign(channelID, time.Unix(exp, 0)); !strings.EqualFold(want, sign) {
				t.Fatalf("Verify(%q, %q, %d) accepted a signature Sign would write as %q", channelID, sign, now, want)
			}
			if now >= exp {
				t.Fatalf("Verify(%q, %q, %d) accepted an expired signature", channelID, sign, now)
			}
		}

		// Round trip from the fuzzed channel and time.
		if now < 0 || now > math.MaxInt64/2 {
			return
		}
		good := s.Sign(channelID, time.Unix(now+3600, 0))
		if err := s.Verify(channelID, good, at); err != nil {
			t.Fatalf("Verify(%q, Sign(%q, %d+3600), %d) = %v", channelID, channelID, now, now, err)
		}
		if err := s.Verify(channelID, strings.ToUpper(good), at); err != nil {
			t.Fatalf("upper-case Sign(%q) refused: %v", channelID, err)
		}
		if err := s.Verify(channelID, good, time.Unix(now+3600, 0)); !errors.Is(err, ErrExpired) {
			t.Fatalf("Sign(%q) at its expiry: got %v, want ErrExpired", channelID, err)
		}
		if err := s.Verify(channelID+"x", good, at); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Sign(%q) verified for %q: got %v, want ErrBadSignature", channelID, channelID+"x", err)
		}
	})
}
