package ingest

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzVerifySignature checks VerifySignature on arbitrary headers, bodies,
// clocks and skews: it never panics, accepts only a signature equal to Sign
// over the parsed timestamp with a timestamp within the skew, and accepts what
// Sign produced for such a timestamp.
func FuzzVerifySignature(f *testing.F) {
	for _, tc := range verifyCases {
		f.Add(tc.secret, tc.ts, tc.sig, tc.body, verifyNow.Unix(), uint32(300))
	}
	f.Add([]byte{}, "", "", []byte{}, int64(0), uint32(0))
	f.Add([]byte("k"), "-1", "sha256=", []byte("{}"), int64(-1), uint32(1<<32-1))
	f.Fuzz(func(t *testing.T, secret []byte, ts, sig string, body []byte, nowUnix int64, skewSeconds uint32) {
		now := time.Unix(nowUnix, 0)
		skew := time.Duration(skewSeconds) * time.Second
		err := VerifySignature(secret, ts, sig, body, now, skew)
		parsed, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil {
			require.Error(t, err, "an unparsable timestamp is refused")
			return
		}
		d := now.Sub(time.Unix(parsed, 0))
		within := d <= skew && d >= -skew
		if err == nil {
			require.True(t, within, "accepted a timestamp %s from now", d)
			require.Equal(t, Sign(secret, parsed, body), sig, "accepted a signature Sign did not make")
		}
		good := VerifySignature(secret, ts, Sign(secret, parsed, body), body, now, skew)
		if within {
			require.NoError(t, good)
		} else {
			require.Error(t, good)
		}
	})
}
