package signing

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testKey is 0x00..0x1f; golden values below were computed with
// `openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f`.
func testKey() []byte {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	return key
}

const (
	goldenExpiry = 1700000000
	goldenMAC    = "da0e2eeef818bf97087df8c98b78b85e26ba505e251998b5d7701a6c7c0b35d3" // "/stream/ch1-1700000000"
	goldenSign   = "1700000000-" + goldenMAC
	dashedMAC    = "43c69ebdde01bb46fd3e39e3429a129661c12c23a01814c587b0a08903c69940" // "/stream/a-b_c-4102444800"
)

func testSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := New(testKey())
	require.NoError(t, err)
	return s
}

// flipLast changes the last hex digit of a sign value.
func flipLast(s string) string {
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}

type verifyCase struct {
	name    string
	channel string
	sign    string
	now     int64
	want    error
}

// verifyCases are the unit cases of Verify, also the seeds of FuzzVerify.
func verifyCases() []verifyCase {
	before := int64(goldenExpiry - 100)
	otherKey := make([]byte, 32)
	other, _ := New(otherKey)
	own, _ := New(testKey())
	return []verifyCase{
		{"valid", "ch1", goldenSign, before, nil},
		{"valid one second before expiry", "ch1", goldenSign, goldenExpiry - 1, nil},
		{"valid upper-case hex", "ch1", "1700000000-" + strings.ToUpper(goldenMAC), before, nil},
		{"valid mixed-case hex", "ch1", "1700000000-DA0E2eeef818bf97087df8c98b78b85e26ba505e251998b5d7701a6c7c0b35d3", before, nil},
		{"valid channel with dashes", "a-b_c", "4102444800-" + dashedMAC, before, nil},

		{"missing", "ch1", "", before, ErrMissing},

		{"expired at expiry", "ch1", goldenSign, goldenExpiry, ErrExpired},
		{"expired long ago", "ch1", goldenSign, goldenExpiry + 86400*365, ErrExpired},
		{"expiry zero", "ch1", own.Sign("ch1", time.Unix(0, 0)), before, ErrExpired},

		{"other channel", "ch2", goldenSign, before, ErrBadSignature},
		{"channel prefix", "ch", goldenSign, before, ErrBadSignature},
		{"channel suffix", "ch1x", goldenSign, before, ErrBadSignature},
		{"channel case", "CH1", goldenSign, before, ErrBadSignature},
		{"empty channel", "", goldenSign, before, ErrBadSignature},
		{"dash moved between channel and expiry", "a-b", "c-4102444800-" + dashedMAC, before, ErrMalformed},
		{"tampered expiry", "ch1", "1700000001-" + goldenMAC, before, ErrBadSignature},
		{"tampered far expiry", "ch1", "9000000000-" + goldenMAC, before, ErrBadSignature},
		{"tampered mac", "ch1", flipLast(goldenSign), before, ErrBadSignature},
		{"other key", "ch1", other.Sign("ch1", time.Unix(goldenExpiry, 0)), before, ErrBadSignature},
		{"forged and expired", "ch1", flipLast(goldenSign), goldenExpiry + 10, ErrBadSignature},
		{"all-zero mac", "ch1", "1700000000-" + strings.Repeat("0", 64), before, ErrBadSignature},

		{"leading zero", "ch1", "01700000000-" + goldenMAC, before, ErrMalformed},
		{"plus sign", "ch1", "+1700000000-" + goldenMAC, before, ErrMalformed},
		{"negative expiry", "ch1", "-1700000000-" + goldenMAC, before, ErrMalformed},
		{"no dash", "ch1", "1700000000" + goldenMAC, before, ErrMalformed},
		{"only dash", "ch1", "-", before, ErrMalformed},
		{"no expiry", "ch1", "-" + goldenMAC, before, ErrMalformed},
		{"no mac", "ch1", "1700000000-", before, ErrMalformed},
		{"double dash", "ch1", "1700000000--" + goldenMAC, before, ErrMalformed},
		{"mac 63 digits", "ch1", goldenSign[:len(goldenSign)-1], before, ErrMalformed},
		{"mac 65 digits", "ch1", goldenSign + "0", before, ErrMalformed},
		{"mac not hex", "ch1", "1700000000-" + strings.Repeat("g", 64), before, ErrMalformed},
		{"mac base64", "ch1", "1700000000-2g4u7vgYv5cIffjJi3i4XiZaUF4lGZi113AabHwLNdM=", before, ErrMalformed},
		{"leading space", "ch1", " " + goldenSign, before, ErrMalformed},
		{"trailing newline", "ch1", goldenSign + "\n", before, ErrMalformed},
		{"space in expiry", "ch1", "1700 000000-" + goldenMAC, before, ErrMalformed},
		{"hex expiry", "ch1", "0x6553f100-" + goldenMAC, before, ErrMalformed},
		{"exponent expiry", "ch1", "1.7e9-" + goldenMAC, before, ErrMalformed},
		{"arabic-indic digits", "ch1", "١٧٠٠٠٠٠٠٠٠-" + goldenMAC, before, ErrMalformed},
		{"expiry beyond int64", "ch1", "9223372036854775808-" + goldenMAC, before, ErrMalformed},
		{"expiry of 20 digits", "ch1", "12345678901234567890-" + goldenMAC, before, ErrMalformed},
		{"nul byte", "ch1", "1700000000\x00-" + goldenMAC, before, ErrMalformed},
		{"query glued on", "ch1", goldenSign + "&x=1", before, ErrMalformed},
		{"huge", "ch1", strings.Repeat("1", 1<<20), before, ErrMalformed},
		{"invalid utf-8", "ch1", "\xff\xfe-" + goldenMAC, before, ErrMalformed},
	}
}

func TestVerify(t *testing.T) {
	s := testSigner(t)
	for _, tc := range verifyCases() {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Verify(tc.channel, tc.sign, time.Unix(tc.now, 0))
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			for _, other := range []error{ErrMissing, ErrMalformed, ErrExpired, ErrBadSignature} {
				if other != tc.want {
					require.NotErrorIs(t, err, other, "refusals must be distinct")
				}
			}
			require.LessOrEqual(t, len(err.Error()), 200, "errors must not echo hostile input")
		})
	}
}

func TestSignGolden(t *testing.T) {
	s := testSigner(t)
	require.Equal(t, goldenSign, s.Sign("ch1", time.Unix(goldenExpiry, 0)))
	require.Equal(t, goldenSign, s.Sign("ch1", time.Unix(goldenExpiry, 999_999_999).In(time.FixedZone("X", 3600))))
	require.Equal(t, "4102444800-"+dashedMAC, s.Sign("a-b_c", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)))
}

func TestSignRoundTrip(t *testing.T) {
	s := testSigner(t)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		channel string
		expires time.Time
		at      time.Time
		want    error
	}{
		{"one hour", "ch1", now.Add(time.Hour), now, nil},
		{"sub-second expiry truncates", "ch1", now.Add(1500 * time.Millisecond), now.Add(999 * time.Millisecond), nil},
		{"at expiry", "ch1", now.Add(time.Hour), now.Add(time.Hour), ErrExpired},
		{"far future", "ch1", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), now, nil},
		{"before 1970 signs as zero", "ch1", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), now, ErrExpired},
		{"longest channel id", strings.Repeat("x", 64), now.Add(time.Minute), now, nil},
		{"odd channel bytes", "ch/../\x00é", now.Add(time.Minute), now, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sign := s.Sign(tc.channel, tc.expires)
			require.LessOrEqual(t, len(sign), MaxSignLength)
			require.Equal(t, strings.ToLower(sign), sign)
			exp, mac, err := ParseSign(sign)
			require.NoError(t, err)
			require.Equal(t, max(tc.expires.Unix(), 0), exp)
			require.Len(t, mac, 32)
			err = s.Verify(tc.channel, sign, tc.at)
			if tc.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}

type parseCase struct {
	name string
	sign string
	exp  int64
	want error
}

// parseCases are the unit cases of ParseSign, also the seeds of FuzzParseSign.
func parseCases() []parseCase {
	mac := strings.Repeat("ab", 32)
	return []parseCase{
		{"golden", goldenSign, goldenExpiry, nil},
		{"zero", "0-" + mac, 0, nil},
		{"one digit", "7-" + mac, 7, nil},
		{"max int64", "9223372036854775807-" + mac, 1<<63 - 1, nil},
		{"upper-case hex", "1-" + strings.ToUpper(mac), 1, nil},
		{"empty", "", 0, ErrMissing},
		{"zeros", "00-" + mac, 0, ErrMalformed},
		{"leading zero", "01-" + mac, 0, ErrMalformed},
		{"max int64 plus one", "9223372036854775808-" + mac, 0, ErrMalformed},
		{"twenty digits", "10000000000000000000-" + mac, 0, ErrMalformed},
		{"negative", "-1-" + mac, 0, ErrMalformed},
		{"plus", "+1-" + mac, 0, ErrMalformed},
		{"no dash", "1" + mac, 0, ErrMalformed},
		{"no mac", "1-", 0, ErrMalformed},
		{"short mac", "1-" + mac[:62], 0, ErrMalformed},
		{"odd mac", "1-" + mac[:63], 0, ErrMalformed},
		{"long mac", "1-" + mac + "ab", 0, ErrMalformed},
		{"non-hex mac", "1-" + strings.Repeat("zz", 32), 0, ErrMalformed},
		{"dash in mac", "1-" + mac[:63] + "-", 0, ErrMalformed},
		{"too long", strings.Repeat("9", MaxSignLength+1), 0, ErrMalformed},
		{"only dash", "-", 0, ErrMalformed},
		{"unicode", "１-" + mac, 0, ErrMalformed},
	}
}

func TestParseSign(t *testing.T) {
	for _, tc := range parseCases() {
		t.Run(tc.name, func(t *testing.T) {
			exp, mac, err := ParseSign(tc.sign)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				require.Zero(t, exp)
				require.Nil(t, mac)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.exp, exp)
			require.Len(t, mac, 32)
		})
	}
}

func TestNew(t *testing.T) {
	cases := []struct {
		name string
		size int
		want error
	}{
		{"nil", 0, ErrShortKey},
		{"31 bytes", 31, ErrShortKey},
		{"32 bytes", 32, nil},
		{"64 bytes", 64, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var key []byte
			if tc.size > 0 {
				key = make([]byte, tc.size)
			}
			s, err := New(key)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				require.Nil(t, s)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, s)
		})
	}

	t.Run("key is copied", func(t *testing.T) {
		key := testKey()
		s, err := New(key)
		require.NoError(t, err)
		key[0] ^= 0xff
		require.Equal(t, goldenSign, s.Sign("ch1", time.Unix(goldenExpiry, 0)))
	})
}

func TestSignerConcurrent(t *testing.T) {
	s := testSigner(t)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			for range 100 {
				if got := s.Sign("ch1", time.Unix(goldenExpiry, 0)); got != goldenSign {
					errs <- errors.New("sign changed under concurrency: " + got)
					return
				}
				if err := s.Verify("ch1", goldenSign, time.Unix(goldenExpiry-1, 0)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 16 {
		require.NoError(t, <-errs)
	}
}

func BenchmarkVerify(b *testing.B) {
	s := testSigner(b)
	now := time.Unix(goldenExpiry-1, 0)
	for b.Loop() {
		if err := s.Verify("ch1", goldenSign, now); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSourceToken(t *testing.T) {
	s := testSigner(t)
	// printf 'livestack raw source v1\x00ch1' | openssl dgst -sha256 -mac HMAC -macopt hexkey:0001…1f
	require.Equal(t, "b5db7ddd0fd96aae89ac73f90cf8f6ac118dee8f46312883c6641e03f4eafce8", s.SourceToken("ch1"))
	require.NotEqual(t, s.SourceToken("ch1"), s.SourceToken("ch2"))
	require.NotEqual(t, s.SourceToken("ch1"), s.ForEpoch(1).SourceToken("ch1"))
}
