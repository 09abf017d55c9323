package playauth

import (
	"errors"
	"maps"
	"net/url"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary queries to the verifier: it never panics, every
// refusal wraps exactly one sentinel, and nothing but a real signature passes.
func FuzzVerify(f *testing.F) {
	s, v := newPair(f)
	good, err := s.Sign("https://play.example/ch/live.flv", testNow.Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	pol, err := s.SignPolicy("https://play.example/ch/live.flv", "", testNow.Add(time.Hour), "10.0.0.0/8")
	if err != nil {
		f.Fatal(err)
	}
	for _, u := range []string{good, pol} {
		pu, _ := url.Parse(u)
		f.Add(pu.RawQuery)
	}
	f.Add("Expires=1&Signature=AAAA&Key-Pair-Id=K2JCJMDEHXQW5F")
	f.Add("Policy=e30_&Signature=~~~~&Key-Pair-Id=K2JCJMDEHXQW5F")
	f.Add("%zz=1&Expires=%")
	sentinels := []error{ErrUnsigned, ErrMalformed, ErrUnknownKey, ErrBadSignature, ErrWrongResource, ErrExpired, ErrNotYetValid, ErrIPMismatch}
	var goodParams []map[string]string
	for _, u := range []string{good, pol} {
		pu, _ := url.Parse(u)
		p, _, _ := splitQuery(pu.RawQuery)
		goodParams = append(goodParams, p)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		err := v.Verify(Request{Path: "/ch/live.flv", RawQuery: rawQuery, Bases: []string{"https://play.example"}})
		if err == nil {
			// Only the signed parameters (in any order or spelling) with nothing
			// else can pass; anything else passing is a forgery.
			params, rest, _ := splitQuery(rawQuery)
			for _, g := range goodParams {
				if rest == "" && maps.Equal(g, params) {
					return
				}
			}
			t.Fatalf("accepted %q", rawQuery)
		}
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("Verify(%q) = %v: wraps %d sentinels", rawQuery, err, n)
		}
	})
}
