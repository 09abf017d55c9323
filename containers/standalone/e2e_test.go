package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/channel"
	"github.com/livestack/livestack/shared/ingest"
	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/rtmpclient"
)

// tryPublish publishes the fixture's headers and first frames, and reports
// whether the server accepted them (the hub got a stream) or refused with reason.
func TestPublishRefusedBeforeAnyMedia(t *testing.T) {
	fx := media(t)
	in := testInstance(t, nil)
	okURL := in.addChannel(t, "ok", nil)
	in.addChannel(t, "off", func(c *channel.Channel) { c.Enabled = false })
	past := time.Now().Add(-time.Hour)
	in.addChannel(t, "old", func(c *channel.Channel) { c.ExpiresAt = &past })
	base := in.URLs.PushBase + "/stream/"
	good := in.Signer.Sign("ok", time.Now().Add(time.Hour))
	tampered := []byte(good)
	if tampered[len(tampered)-1] == '0' {
		tampered[len(tampered)-1] = '1'
	} else {
		tampered[len(tampered)-1] = '0'
	}

	// A live publisher on "ok" for the duplicate case.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	live := make(chan error, 1)
	go func() { live <- publishTags(ctx, okURL, fx, publishOpts{loops: 20}) }()
	waitFor(t, 5*time.Second, func() bool { s := in.Gateway.Hub.Stream("ok"); return s != nil && s.Live() }, "the first publisher never went live")

	cases := []struct {
		name, id, url, reason string
	}{
		{"unsigned", "ok", base + "ok", ingest.ReasonUnsigned},
		{"malformed", "ok", base + "ok?sign=12345-zz", ingest.ReasonMalformed},
		{"expired signature", "ok", in.pushURL("ok", time.Now().Add(-time.Minute)), ingest.ReasonSignExpired},
		{"tampered", "ok", base + "ok?sign=" + string(tampered), ingest.ReasonBadSignature},
		{"signed for another channel", "ok", base + "ok?sign=" + in.Signer.Sign("other", time.Now().Add(time.Hour)), ingest.ReasonBadSignature},
		{"unknown channel", "ghost", in.pushURL("ghost", time.Now().Add(time.Hour)), ingest.ReasonUnknownChannel},
		{"disabled channel", "off", in.pushURL("off", time.Now().Add(time.Hour)), ingest.ReasonDisabled},
		{"expired channel", "old", in.pushURL("old", time.Now().Add(time.Hour)), ingest.ReasonChannelExpired},
		{"invalid id", "a.b", base + "a.b?sign=1-00", ingest.ReasonInvalidChannel},
		{"already live", "ok", okURL, ingest.ReasonAlreadyLive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			counters := &in.Gateway.RTMP.Counters
			before := counters.RefusedCount(tc.reason)
			var bytesBefore int64
			if s := in.Gateway.Hub.Stream(tc.id); s != nil {
				bytesBefore = s.Stats().BytesIn
			}
			p, err := rtmpclient.Publish(context.Background(), tc.url, rtmpclient.Config{})
			if err == nil {
				defer p.Close()
				// Try to send media anyway: none of it may reach the hub.
				for _, tag := range fx.tags[:10] {
					if p.WriteTag(tag.Type, tag.Timestamp, tag.Data) != nil {
						break
					}
				}
				waitFor(t, 5*time.Second, func() bool { return p.Err() != nil }, "the server did not close the refused connection")
			}
			waitFor(t, 5*time.Second, func() bool { return counters.RefusedCount(tc.reason) == before+1 }, "refusal %q not counted", tc.reason)
			if tc.id == "ok" {
				s := in.Gateway.Hub.Stream("ok")
				require.NotNil(t, s, "the live stream is untouched")
				require.True(t, s.Live())
				require.Less(t, s.Stats().BytesIn-bytesBefore, int64(200_000), "only the real publisher's media arrives")
			} else {
				require.Nil(t, in.Gateway.Hub.Stream(tc.id), "a refused publish creates no stream")
			}
		})
	}

	t.Run("ffmpeg sees the refusal", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", fx.path,
			"-c", "copy", "-f", "flv", base+"ok").CombinedOutput()
		require.Error(t, err, "ffmpeg must fail: %s", out)
		require.NoError(t, ctx.Err(), "ffmpeg was refused at once, not timed out")
	})
	cancel()
	<-live
}

func TestHTTPFLVStartsOnKeyframeAndProbes(t *testing.T) {
	fx := media(t)
	in := testInstance(t, nil)
	url := in.addChannel(t, "cam1", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = publishTags(ctx, url, fx, publishOpts{loops: 3}) }()
	time.Sleep(1500 * time.Millisecond) // join mid-GOP (keyframe every 1 s)

	start := time.Now()
	v := openViewer(t, in.flvURL("cam1"))
	require.Equal(t, "video/x-flv", v.resp.Header.Get("Content-Type"))
	require.Equal(t, "*", v.resp.Header.Get("Access-Control-Allow-Origin"))
	var (
		seenVideoHdr, seenAudioHdr bool
		firstFrame                 = true
		lastTS                     = map[flv.TagType]uint32{}
		frames                     int
	)
	for frames < 60 {
		tag, err := v.r.Next()
		require.NoError(t, err)
		require.True(t, v.r.HasAudio && v.r.HasVideo, "FLV header flags both tracks")
		switch tag.Type {
		case flv.TagScript:
			require.Contains(t, string(tag.Data), "onMetaData")
			continue
		case flv.TagVideo:
			vi, err := flv.ParseVideo(tag.Data)
			require.NoError(t, err)
			if vi.PacketType == flv.VideoSequenceHeader {
				seenVideoHdr = true
				c, err := flv.ParseAVCConfig(vi.Payload)
				require.NoError(t, err)
				require.Equal(t, 320, c.Width)
				require.Equal(t, 240, c.Height)
				continue
			}
			require.True(t, seenVideoHdr, "sequence header before frames")
			if firstFrame {
				require.True(t, vi.Keyframe, "the first video frame is a keyframe (GOP cache)")
				t.Logf("first keyframe after %s", time.Since(start))
				firstFrame = false
			}
			frames++
		case flv.TagAudio:
			ai, err := flv.ParseAudio(tag.Data)
			require.NoError(t, err)
			if ai.PacketType == flv.AudioSequenceHeader {
				seenAudioHdr = true
				continue
			}
			require.True(t, seenAudioHdr, "AAC config before frames")
		}
		require.GreaterOrEqual(t, tag.Timestamp, lastTS[tag.Type], "%s timestamps never go backwards", tag.Type)
		lastTS[tag.Type] = tag.Timestamp
	}

	// ffprobe agrees on codecs and size, over HTTP-FLV and RTMP play.
	for _, u := range []string{in.flvURL("cam1"), in.URLs.PushBase + "/stream/cam1"} {
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height,sample_rate",
			"-of", "compact=p=0:nk=0", "-rw_timeout", "5000000", u).CombinedOutput()
		require.NoError(t, err, "%s", out)
		s := string(out)
		require.Contains(t, s, "codec_name=h264|width=320|height=240", u)
		require.Contains(t, s, "codec_name=aac", u)
	}
	st := in.Gateway.Hub.Stream("cam1").Stats()
	require.Equal(t, "h264", st.VideoCodec)
	require.Equal(t, "aac", st.AudioCodec)
	require.Equal(t, 320, st.Width)
	require.InDelta(t, 1000, st.KeyframeIntervalMS, 100)
}

// stalledViewer opens an HTTP-FLV request with a tiny receive buffer and never reads.
func stalledViewer(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSlowViewerDoesNotDelayOthers(t *testing.T) {
	fx := media(t)
	in := testInstance(t, func(c *config) {
		c.PlayWriteTimeout = 2 * time.Second
		c.PlaySendBuffer = 16 << 10
	})
	url := in.addChannel(t, "busy", nil)
	sent := &sync.Map{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = publishTags(ctx, url, fx, publishOpts{loops: 3, sent: sent}) }()

	v := openViewer(t, in.flvURL("busy"))
	addr := strings.TrimPrefix(in.URLs.PlayBase, "http://")
	for i := 0; i < 3; i++ {
		stalledViewer(t, addr, "/busy/live.flv")
	}
	waitFor(t, 3*time.Second, func() bool { return in.Gateway.Hub.Stream("busy").Stats().Viewers == 4 }, "stalled viewers did not connect")

	var delays []time.Duration
	deadline := time.Now().Add(7 * time.Second)
	for time.Now().Before(deadline) {
		tag, err := v.r.Next()
		require.NoError(t, err)
		if tag.Type != flv.TagVideo {
			continue
		}
		if at, ok := sent.Load(tag.Timestamp); ok {
			delays = append(delays, time.Since(at.(time.Time)))
		}
	}
	require.Greater(t, len(delays), 100)
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	p99 := delays[len(delays)*99/100]
	t.Logf("good viewer delay with 3 stalled viewers: p50 %s p99 %s max %s", delays[len(delays)/2], p99, delays[len(delays)-1])
	require.Less(t, p99, 100*time.Millisecond, "a stalled viewer must not delay others")

	st := in.Gateway.Hub.Stream("busy").Stats()
	require.Equal(t, 1, st.Viewers, "stalled viewers are dropped after the write timeout")
	require.Less(t, st.RetainedBytes, int64(2<<20), "memory held for subscribers stays bounded")
	require.GreaterOrEqual(t, in.Gateway.Playback.Counters.FLVWriteErrors.Load()+in.Gateway.Playback.Counters.FLVTooSlow.Load(), int64(3))
}

func TestPublisherReconnectKeepsViewers(t *testing.T) {
	fx := media(t)
	in := testInstance(t, nil)
	url := in.addChannel(t, "flaky", nil)

	first, cancel1 := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel1()
	done1 := make(chan error, 1)
	go func() { done1 <- publishTags(first, url, fx, publishOpts{tsBase: 5000}) }()
	v := openViewer(t, in.flvURL("flaky"))

	type got struct {
		ts  uint32
		key bool
		err error
	}
	tags := make(chan got, 1024)
	go func() {
		for {
			tag, err := v.r.Next()
			if err != nil {
				tags <- got{err: err}
				return
			}
			if tag.Type == flv.TagVideo {
				vi, _ := flv.ParseVideo(tag.Data)
				if vi.PacketType == flv.VideoFrames {
					tags <- got{ts: tag.Timestamp, key: vi.Keyframe}
				}
			}
		}
	}()
	<-done1 // publisher 1 gone (connection closed)
	time.Sleep(700 * time.Millisecond)
	second, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	// The encoder restarts its clock at 0: the hub continues the timeline.
	go func() { _ = publishTags(second, url, fx, publishOpts{}) }()

	var last uint32
	var keysAfterGap, frames int
	timeout := time.After(6 * time.Second)
	stream := in.Gateway.Hub.Stream("flaky")
	require.NotNil(t, stream)
	gapSeen := false
loop:
	for {
		select {
		case g := <-tags:
			require.NoError(t, g.err, "the viewer stays connected across the reconnect")
			require.GreaterOrEqual(t, g.ts, last, "timestamps stay monotonic across the reconnect")
			if !gapSeen && stream.Stats().Reconnects == 1 {
				gapSeen = true
			}
			if gapSeen && g.key {
				keysAfterGap++
			}
			last = g.ts
			frames++
			if keysAfterGap >= 2 {
				break loop
			}
		case <-timeout:
			t.Fatalf("no media after the reconnect (frames %d, keyframes after gap %d)", frames, keysAfterGap)
		}
	}
	st := in.Gateway.Hub.Stream("flaky").Stats()
	require.Equal(t, 1, st.Reconnects)
	require.True(t, st.Live)
}

// rawHandshake performs a client RTMP handshake on c.
func rawHandshake(t *testing.T, c net.Conn) {
	t.Helper()
	c1 := make([]byte, 1537)
	c1[0] = 3
	_, _ = rand.Read(c1[9:])
	_, err := c.Write(c1)
	require.NoError(t, err)
	s := make([]byte, 3073)
	_, err = io.ReadFull(c, s)
	require.NoError(t, err)
	_, err = c.Write(s[1:1537]) // C2 echoes S1
	require.NoError(t, err)
}

// chunk builds a type-0 chunk header on csid 2..63 with the whole payload
// (payload must fit the chunk size in use).
func chunk(csid byte, typ byte, streamID uint32, declared int, payload []byte) []byte {
	b := []byte{csid & 0x3f, 0, 0, 0, byte(declared >> 16), byte(declared >> 8), byte(declared), typ, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[8:], streamID)
	return append(b, payload...)
}

// amfBomb is a connect command whose third value declares an absurd size: a
// strict array (0x0a) of 2^31-1 elements or a long string (0x0c) of 4 GiB.
func amfBomb(marker byte) []byte {
	b := []byte{0x02, 0, 7, 'c', 'o', 'n', 'n', 'e', 'c', 't', 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}
	if marker == 0x0a {
		return append(b, 0x0a, 0x7f, 0xff, 0xff, 0xff)
	}
	return append(b, 0x0c, 0xff, 0xff, 0xff, 0xff, 'x')
}

func TestGarbageOnRTMPPortIsDropped(t *testing.T) {
	fx := media(t)
	in := testInstance(t, func(c *config) { c.HandshakeTimeout = 2 * time.Second })
	url := in.addChannel(t, "steady", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = publishTags(ctx, url, fx, publishOpts{loops: 3}) }()
	v := openViewer(t, in.flvURL("steady"))
	frames := make(chan error, 4096)
	go func() {
		for {
			_, err := v.r.Next()
			frames <- err
			if err != nil {
				return
			}
		}
	}()
	rtmpAddr := strings.TrimPrefix(in.URLs.PushBase, "rtmp://")
	counters := &in.Gateway.RTMP.Counters
	before := counters.ProtocolErrors.Load()

	attacks := []struct {
		name string
		run  func(c net.Conn)
	}{
		{"random bytes", func(c net.Conn) {
			junk := make([]byte, 64<<10)
			_, _ = rand.Read(junk)
			_, _ = c.Write(junk)
		}},
		{"truncated handshake", func(c net.Conn) { _, _ = c.Write([]byte{3, 0, 0, 0, 0}) }},
		{"silent after connect", func(c net.Conn) {}},
		{"huge chunk size", func(c net.Conn) {
			rawHandshake(t, c)
			_, _ = c.Write(chunk(2, 1, 0, 4, []byte{0x7f, 0xff, 0xff, 0xff}))
			_, _ = c.Write(chunk(3, 20, 0, 0xffffff, make([]byte, 4096)))
		}},
		{"AMF bomb: strict array of 2^31 elements", func(c net.Conn) {
			rawHandshake(t, c)
			_, _ = c.Write(chunk(3, 20, 0, len(amfBomb(0x0a)), amfBomb(0x0a)))
		}},
		{"AMF bomb: 4 GB long string", func(c net.Conn) {
			rawHandshake(t, c)
			_, _ = c.Write(chunk(3, 20, 0, len(amfBomb(0x0c)), amfBomb(0x0c)))
		}},
		{"oversized message then hang up", func(c net.Conn) {
			rawHandshake(t, c)
			_, _ = c.Write(chunk(3, 9, 1, 0xffffff, make([]byte, 128)))
		}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", rtmpAddr, time.Second)
			require.NoError(t, err)
			defer c.Close()
			a.run(c)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, c)
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server must close a hostile connection")
		})
	}
	waitFor(t, 5*time.Second, func() bool { return counters.ProtocolErrors.Load()-before >= int64(len(attacks)) },
		"each hostile connection is logged and counted (got %d)", counters.ProtocolErrors.Load()-before)

	// The real stream kept playing throughout.
	n := 0
	deadline := time.After(3 * time.Second)
	for n < 50 {
		select {
		case err := <-frames:
			require.NoError(t, err)
			n++
		case <-deadline:
			t.Fatalf("the viewer stalled: %d tags in 3 s", n)
		}
	}
	require.True(t, in.Gateway.Hub.Stream("steady").Live())
	require.GreaterOrEqual(t, counters.Violations.Load(), int64(3), "the guard caught the chunk size and both AMF bombs")
	resp, err := http.Get(in.URLs.PlayBase + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestRelayToSecondInstance(t *testing.T) {
	fx := media(t)
	b := testInstance(t, nil)
	b.addChannel(t, "mirror", nil)
	target := b.pushURL("mirror", time.Now().Add(time.Hour))

	a := testInstance(t, nil)
	url := a.addChannel(t, "origin", func(c *channel.Channel) { c.Relay = []channel.Relay{{URL: target}} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = publishTags(ctx, url, fx, publishOpts{loops: 3}) }()

	v := openViewer(t, b.flvURL("mirror"))
	var first *flv.VideoInfo
	for first == nil {
		tag, err := v.r.Next()
		require.NoError(t, err)
		if tag.Type == flv.TagVideo {
			vi, err := flv.ParseVideo(tag.Data)
			require.NoError(t, err)
			if vi.PacketType == flv.VideoFrames {
				first = &vi
			}
		}
	}
	require.True(t, first.Keyframe, "the relayed stream starts on a keyframe")
	out, err := exec.Command("ffprobe", "-v", "error", "-rw_timeout", "5000000", "-show_entries", "stream=codec_name,width",
		"-of", "compact=p=0", b.flvURL("mirror")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "codec_name=h264|width=320")
	require.Contains(t, string(out), "codec_name=aac")

	// The relay's state is visible in A's stream stats and metrics.
	req, _ := http.NewRequest(http.MethodGet, a.URLs.PlayBase+"/api/v1/streams", nil)
	req.Header.Set("Authorization", "Bearer "+a.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `"status":"live"`)
	require.NotContains(t, string(body), "sign=", "relay URLs are redacted")
	resp, err = http.Get(a.URLs.PlayBase + "/metrics")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), "livestack_relays_live 1")
}

func TestFLVOffChannelIsNotServed(t *testing.T) {
	fx := media(t)
	in := testInstance(t, nil)
	off := false
	url := in.addChannel(t, "hlsonly", func(c *channel.Channel) { c.Outputs.FLV = &off })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = publishTags(ctx, url, fx, publishOpts{loops: 2}) }()
	waitFor(t, 5*time.Second, func() bool { s := in.Gateway.Hub.Stream("hlsonly"); return s != nil && s.Live() }, "never live")
	resp, err := http.Get(in.flvURL("hlsonly"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the channel turned FLV off")
	out, err := exec.Command("ffprobe", "-v", "error", "-rw_timeout", "3000000", in.URLs.PushBase+"/stream/hlsonly").CombinedOutput()
	require.Error(t, err, "RTMP play is refused too: %s", out)
}

func TestConnectionAndPublisherLimits(t *testing.T) {
	fx := media(t)
	in := testInstance(t, func(c *config) { c.MaxConnections, c.MaxPublishers = 3, 1 })
	url := in.addChannel(t, "one", nil)
	in.addChannel(t, "two", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = publishTags(ctx, url, fx, publishOpts{loops: 3}) }()
	waitFor(t, 5*time.Second, func() bool { s := in.Gateway.Hub.Stream("one"); return s != nil && s.Live() }, "never live")

	// A second publisher is over the publisher limit: refused with its reason.
	_, err := rtmpclient.Publish(context.Background(), in.pushURL("two", time.Now().Add(time.Hour)), rtmpclient.Config{})
	require.Error(t, err)
	waitFor(t, 3*time.Second, func() bool { return in.Gateway.RTMP.Counters.RefusedCount(ingest.ReasonTooManyStreams) == 1 }, "publisher limit not applied")
	// The refused connection must be gone before the idle ones are counted, or
	// it takes one of their places and the second idle one is rejected.
	waitFor(t, 3*time.Second, func() bool { return in.Gateway.RTMP.Counters.Active.Load() == 1 }, "refused publisher's connection not closed")

	// Fill the connection limit (1 publisher + 2 idle), the next one is closed at once.
	addr := strings.TrimPrefix(in.URLs.PushBase, "rtmp://")
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
	}
	waitFor(t, 3*time.Second, func() bool { return in.Gateway.RTMP.Counters.Active.Load() == 3 }, "idle connections not counted")
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the connection over the limit is closed, not left waiting")
	require.Equal(t, int64(1), in.Gateway.RTMP.Counters.Rejected.Load())
	require.True(t, in.Gateway.Hub.Stream("one").Live(), "the live stream is unaffected")
}
