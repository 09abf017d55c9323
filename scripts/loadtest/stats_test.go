package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramQuantiles(t *testing.T) {
	cases := []struct {
		name     string
		samples  []time.Duration
		p50, p99 time.Duration
	}{
		{"uniform ms", func() []time.Duration {
			var s []time.Duration
			for i := 0; i < 100; i++ {
				s = append(s, time.Duration(i)*time.Millisecond+500*time.Microsecond)
			}
			return s
		}(), 50 * time.Millisecond, 99 * time.Millisecond},
		{"tail in 10 ms buckets", append(make([]time.Duration, 98), 250*time.Millisecond, 251*time.Millisecond), time.Millisecond, 251 * time.Millisecond},
		{"overflow", []time.Duration{20 * time.Second}, 20 * time.Second, 20 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, d := range tc.samples {
				h.add(d)
			}
			require.Equal(t, tc.p50, h.quantile(0.5))
			require.Equal(t, tc.p99, h.quantile(0.99))
			var m histogram
			m.merge(&h)
			m.merge(&h)
			require.Equal(t, 2*h.n, m.n)
			require.Equal(t, h.quantile(0.99), m.quantile(0.99))
		})
	}
	var empty histogram
	require.Zero(t, empty.quantile(0.99))
}

func TestBuckets(t *testing.T) {
	for _, d := range []time.Duration{0, 999 * time.Microsecond, 99 * time.Millisecond, 100 * time.Millisecond, 999 * time.Millisecond, time.Second, 9999 * time.Millisecond, time.Minute} {
		b := bucketOf(d)
		require.GreaterOrEqual(t, upperBound(b), d, "bucket %d of %s", b, d)
		if b > 0 {
			require.Less(t, upperBound(b-1), d+time.Millisecond, "bucket %d of %s", b, d)
		}
	}
}

func TestProcParsing(t *testing.T) {
	stat := "4242 (stand alone) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 1000000 2000 18446744073709551615"
	d, err := parseStatTimes(stat)
	require.NoError(t, err)
	require.Equal(t, 3250*time.Millisecond, d)
	_, err = parseStatTimes("garbage")
	require.Error(t, err)

	rss, err := parseVmRSS("Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t   20480 kB\nThreads: 4\n")
	require.NoError(t, err)
	require.Equal(t, int64(20480<<10), rss)
	_, err = parseVmRSS("Name: x\n")
	require.Error(t, err)
}

func TestGoodputAndFlags(t *testing.T) {
	require.InDelta(t, 95.0, goodput(95, 100), 1e-9)
	require.Zero(t, goodput(10, 0))
	_, err := parseFlags([]string{"-push", "rtmp://10.0.0.1/stream/x", "-play", "http://127.0.0.1/x/live.flv"})
	require.Error(t, err, "only loopback targets")
	o, err := parseFlags([]string{"-server-bin", "x", "-sweep", "100, 500"})
	require.NoError(t, err)
	require.Equal(t, []int{100, 500}, o.sweep)
	_, err = parseFlags([]string{"-server-bin", "x", "-sweep", "0"})
	require.Error(t, err)
}
