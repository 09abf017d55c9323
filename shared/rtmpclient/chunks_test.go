package rtmpclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
	"github.com/livestack/livestack/shared/media/rtmpguard"
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestAppendChunksLayout(t *testing.T) {
	body := []byte{1, 2, 3, 4, 5}
	tests := []struct {
		name       string
		csid       int
		ts, size   uint32
		head, body []byte
		want       []byte
	}{
		{"one chunk", 6, 0x123456, 128, nil, body[:3],
			cat([]byte{0x06, 0x12, 0x34, 0x56, 0, 0, 3, 8, 1, 0, 0, 0}, body[:3])},
		{"type 3 continuation chunks", 6, 40, 2, nil, body,
			cat([]byte{0x06, 0, 0, 40, 0, 0, 5, 8, 1, 0, 0, 0}, body[:2], []byte{0xc6}, body[2:4], []byte{0xc6}, body[4:])},
		{"exact multiple of the chunk size", 6, 0, 5, nil, body,
			cat([]byte{0x06, 0, 0, 0, 0, 0, 5, 8, 1, 0, 0, 0}, body)},
		{"extended timestamp after type 0 only", 6, 0x1000000, 3, nil, body,
			cat([]byte{0x06, 0xff, 0xff, 0xff, 0, 0, 5, 8, 1, 0, 0, 0, 1, 0, 0, 0}, body[:3], []byte{0xc6}, body[3:])},
		{"0xFFFFFF is extended", 6, 0xffffff, 128, nil, body[:1],
			cat([]byte{0x06, 0xff, 0xff, 0xff, 0, 0, 1, 8, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff}, body[:1])},
		{"head and body across chunks", 6, 0, 2, []byte{9, 9, 9}, body[:2],
			cat([]byte{0x06, 0, 0, 0, 0, 0, 5, 8, 1, 0, 0, 0, 9, 9, 0xc6, 9}, body[:1], []byte{0xc6}, body[1:2])},
		{"two-byte chunk stream id", 70, 1, 3, nil, body[:4],
			cat([]byte{0x00, 6, 0, 0, 1, 0, 0, 4, 8, 1, 0, 0, 0}, body[:3], []byte{0xc0, 6}, body[3:4])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte{0xaa}
			got := appendChunks(prefix, tt.csid, 8, 1, tt.ts, tt.size, tt.head, tt.body)
			require.Equal(t, cat(prefix, tt.want), got)
		})
	}
}

func TestAppendTagErrors(t *testing.T) {
	c := &Conn{opts: Options{ChunkSize: 128}, streamID: 1}
	_, err := c.AppendTag(nil, 7, 0, []byte{1})
	require.ErrorContains(t, err, "type 7")
	_, err = c.AppendTag(nil, flv.TagVideo, 0, nil)
	require.ErrorContains(t, err, "empty")
	dst, err := c.AppendTag([]byte{1}, flv.TagAudio, 0, make([]byte, maxMessageSize+1))
	require.ErrorContains(t, err, "above the RTMP message limit")
	require.Equal(t, []byte{1}, dst, "dst is returned unchanged on error")
}

// testTag is a tag written and what must be read back.
type testTag struct {
	typ  flv.TagType
	ts   uint32
	data []byte
}

// testTags are metadata, sequence headers and media whose timestamps cross
// 0xFFFFFF, with frames larger than any chunk size tested.
func testTags() []testTag {
	meta := []byte{0x02, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x05}
	tags := []testTag{
		{flv.TagScript, 0, meta},
		{flv.TagVideo, 0, synthAVCHeader},
		{flv.TagAudio, 0, []byte{0xaf, 0, 0x12, 0x10}},
	}
	ts := uint32(extTimestamp - 70)
	for i := range 6 {
		size := 300
		if i%3 == 0 {
			size = 9000 // above 4096 too
		}
		f := synthFrame(i == 0, size)
		f[len(f)-1] = byte(i)
		tags = append(tags, testTag{flv.TagVideo, ts, f})
		tags = append(tags, testTag{flv.TagAudio, ts + 10, []byte{0xaf, 1, byte(i), 0x21}})
		ts += 33
	}
	return tags
}

// TestAppendTagRoundTrip: what AppendTag makes passes rtmpguard and reads
// back through go-rtmp's chunk reader (our server's read path) as the same
// messages and timestamps, at several chunk sizes.
func TestAppendTagRoundTrip(t *testing.T) {
	for _, size := range []uint32{1, 128, 4096, 65536} {
		c := &Conn{opts: Options{ChunkSize: size}, streamID: 1}
		hs := make([]byte, 1+2*1536)
		hs[0] = 3
		// The client announces its chunk size at the initial size of 128.
		in := appendChunks(hs, csidControl, 1, 0, 0, 128, nil, binary.BigEndian.AppendUint32(nil, size))
		tags := testTags()
		for _, tg := range tags {
			var err error
			in, err = c.AppendTag(in, tg.typ, tg.ts, tg.data)
			require.NoError(t, err)
		}

		guard := rtmpguard.NewReader(bytes.NewReader(in), rtmpguard.Limits{})
		_, err := io.ReadFull(guard, make([]byte, len(hs)))
		require.NoError(t, err)
		cs := rtmp.NewChunkStreamer(bufio.NewReader(guard), io.Discard, controlConfig())
		var got []testTag
		var cmsg rtmp.ChunkMessage
		for {
			_, ts, err := cs.Read(&cmsg)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "chunk size %d", size)
			if m, ok := cmsg.Message.(*message.SetChunkSize); ok {
				require.NoError(t, cs.PeerState().SetChunkSize(m.ChunkSize))
				continue
			}
			require.Equal(t, uint32(1), cmsg.StreamID, "media on the publish stream")
			switch m := cmsg.Message.(type) {
			case *message.VideoMessage:
				got = append(got, testTag{flv.TagVideo, ts, readBody(m.Payload)})
			case *message.AudioMessage:
				got = append(got, testTag{flv.TagAudio, ts, readBody(m.Payload)})
			case *message.DataMessage:
				require.Equal(t, "@setDataFrame", m.Name)
				got = append(got, testTag{flv.TagScript, ts, readBody(m.Body)})
			default:
				t.Fatalf("unexpected %T", m)
			}
		}
		require.NoError(t, cs.Close())
		require.Equal(t, tags, got, "chunk size %d", size)
		require.Equal(t, uint64(len(in)), guard.Stats().Bytes)
	}
}

// TestWriteChunksToServer publishes pre-chunked tags to livestack's RTMP
// server and reads them back from the hub: same payloads, same timestamps
// past 0xFFFFFF, frames larger than the chunk size.
func TestWriteChunksToServer(t *testing.T) {
	for _, size := range []uint32{128, 4096} {
		srv := startServer(t, newTestAuth("ch"), nil)
		p, err := Publish(context.Background(), "rtmp://"+srv.Addr+"/stream/ch?sign="+testToken, Config{ChunkSize: size})
		require.NoError(t, err)
		tags := testTags()
		// Headers and the keyframe in one write, then a frame and its audio per write.
		var buf []byte
		for i, tg := range tags {
			buf, err = p.AppendTag(buf, tg.typ, tg.ts, tg.data)
			require.NoError(t, err)
			if i >= 4 && tg.typ == flv.TagAudio {
				require.NoError(t, p.WriteChunks(buf, time.Now().Add(5*time.Second)))
				buf = buf[:0]
				if i == 4 {
					// Subscribe once the keyframe is there: the first read
					// starts with it and the headers.
					require.Eventually(t, func() bool { s := srv.Hub.Stream("ch"); return s != nil && s.Live() }, 5*time.Second, 5*time.Millisecond)
				}
			}
		}
		require.Empty(t, buf)
		sub, err := srv.Hub.Subscribe("ch", hub.SubscribeOptions{Internal: true})
		require.NoError(t, err)
		var got []testTag
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for len(got) < len(tags) {
			pkts, err := sub.Read(ctx, nil)
			require.NoError(t, err, "chunk size %d: got %d of %d tags", size, len(got), len(tags))
			for _, pk := range pkts {
				ts := pk.Time
				if pk.Header {
					ts = 0 // the hub stamps headers with the stream's time
				}
				got = append(got, testTag{pk.Type, ts, append([]byte(nil), pk.Data()...)})
			}
		}
		cancel()
		require.Equal(t, tags, got, "chunk size %d", size)
		require.NoError(t, p.Err())
		require.NoError(t, p.Close())
	}
}

// TestWriteChunksBlocked: against a server that stops reading, a short
// deadline gives ErrBlocked with the rest queued, the connection stays
// usable, a ping answered meanwhile waits behind the queued bytes, and once
// the server reads again Flush sends it all: every message arrives whole, in
// order.
func TestWriteChunksBlocked(t *testing.T) {
	var paused atomic.Bool
	pinged := make(chan struct{})
	pongs := make(chan uint32, 1)
	f := &fakeServer{media: make(chan gotMsg, 1<<14), paused: &paused, afterPublish: func(p *fakePeer) {
		<-pinged
		p.send(2, 0, &message.UserCtrl{Event: &message.UserCtrlEventPingRequest{Timestamp: 77}})
		select {
		case ts := <-p.pongs:
			pongs <- ts
		case <-time.After(10 * time.Second):
		}
	}}
	addr := f.start(t)
	t.Cleanup(func() { paused.Store(false) }) // before the server's cleanup waits for it
	c, err := Dial(context.Background(), "rtmp://"+addr+"/live/key", Options{Timeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer c.Close(false)

	paused.Store(true)
	frame := synthFrame(false, 64<<10)
	var sent []uint32
	var buf []byte
	blocked := false
	for ts := uint32(0); !blocked && ts < 4000; ts++ { // at most 256 MB
		buf, err = c.AppendTag(buf[:0], flv.TagVideo, ts, frame)
		require.NoError(t, err)
		err = c.WriteChunks(buf, time.Now().Add(20*time.Millisecond))
		sent = append(sent, ts)
		if err != nil {
			require.ErrorIs(t, err, ErrBlocked)
			blocked = true
		}
	}
	require.True(t, blocked, "the socket never filled up")
	queued := c.Queued()
	require.Positive(t, queued)
	require.NoError(t, c.Err())
	// Flush with a deadline keeps what the socket does not take (the kernel
	// may still grow its buffers, so some of it may go).
	if err := c.Flush(time.Now().Add(10 * time.Millisecond)); err != nil {
		require.ErrorIs(t, err, ErrBlocked)
		require.LessOrEqual(t, c.Queued(), queued)
	}

	// A ping now: its answer must wait behind the queued message, not cut it.
	close(pinged)
	time.Sleep(100 * time.Millisecond)
	paused.Store(false)
	require.NoError(t, c.Flush(time.Time{}))
	require.Zero(t, c.Queued())
	buf, err = c.AppendTag(buf[:0], flv.TagAudio, 5000, []byte{0xaf, 1, 2})
	require.NoError(t, err)
	require.NoError(t, c.WriteChunks(buf, time.Time{}))
	sent = append(sent, 5000)

	for i, ts := range sent {
		select {
		case m := <-f.media:
			require.NotEqual(t, -1, m.typeID, "server: %s", m.name)
			require.Equal(t, ts, m.ts, "message %d", i)
			if i < len(sent)-1 {
				require.Equal(t, frame, m.body, "message %d", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d of %d never arrived", i, len(sent))
		}
	}
	select {
	case ts := <-pongs:
		require.Equal(t, uint32(77), ts)
	case <-time.After(10 * time.Second):
		t.Fatal("the ping was not answered")
	}
	require.NoError(t, c.Err())
}

// TestWriteChunksMixed: WriteTag before and after pre-chunked writes, a
// ping answered by the Conn once it writes itself, and a graceful Close
// that still unpublishes.
func TestWriteChunksMixed(t *testing.T) {
	ping := make(chan struct{})
	pongs := make(chan uint32, 1)
	f := &fakeServer{media: make(chan gotMsg, 64), commands: make(chan string, 16), afterPublish: func(p *fakePeer) {
		<-ping
		p.send(2, 0, &message.UserCtrl{Event: &message.UserCtrlEventPingRequest{Timestamp: 5}})
		select {
		case ts := <-p.pongs:
			pongs <- ts
		case <-time.After(5 * time.Second):
		}
	}}
	addr := f.start(t)
	c, err := Dial(context.Background(), "rtmp://"+addr+"/live/key", Options{Timeout: 5 * time.Second, ChunkSize: 256})
	require.NoError(t, err)
	ctx := context.Background()
	frame := synthFrame(true, 1000)

	require.NoError(t, c.WriteTag(ctx, flv.TagVideo, 0, synthAVCHeader))
	require.NoError(t, c.WriteTag(ctx, flv.TagVideo, 10, frame))
	b, err := c.AppendTag(nil, flv.TagVideo, 20, frame)
	require.NoError(t, err)
	b, err = c.AppendTag(b, flv.TagAudio, 25, []byte{0xaf, 1, 1})
	require.NoError(t, err)
	require.NoError(t, c.WriteChunks(b, time.Time{}))
	close(ping)
	select {
	case ts := <-pongs:
		require.Equal(t, uint32(5), ts)
	case <-time.After(5 * time.Second):
		t.Fatal("the ping was not answered")
	}
	require.NoError(t, c.WriteTag(ctx, flv.TagVideo, 30, frame))
	require.NoError(t, c.WriteTag(ctx, flv.TagScript, 0, []byte{0x02, 0, 1, 'x', 0x05}))
	require.NoError(t, c.Flush(time.Time{}), "nothing queued")

	want := []gotMsg{
		{csid: csidVideo, typeID: typeVideo, ts: 0, body: synthAVCHeader},
		{csid: csidVideo, typeID: typeVideo, ts: 10, body: frame},
		{csid: csidVideo, typeID: typeVideo, ts: 20, body: frame},
		{csid: csidAudio, typeID: typeAudio, ts: 25, body: []byte{0xaf, 1, 1}},
		{csid: csidVideo, typeID: typeVideo, ts: 30, body: frame},
		{csid: csidData, typeID: typeDataAMF, ts: 0, name: "@setDataFrame", body: []byte{0x02, 0, 1, 'x', 0x05}},
	}
	for i, w := range want {
		select {
		case m := <-f.media:
			require.Equal(t, w, m, "message %d", i)
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d never arrived", i)
		}
	}

	c.Close(true)
	wantCmds := []string{"connect", "releaseStream", "FCPublish", "createStream", "publish", "FCUnpublish", "deleteStream"}
	for i, w := range wantCmds {
		select {
		case name := <-f.commands:
			require.Equal(t, w, name, "command %d", i)
		case <-time.After(5 * time.Second):
			t.Fatalf("command %d (%s) never arrived", i, w)
		}
	}
	require.ErrorContains(t, c.WriteChunks(b, time.Time{}), "closed")
}

// benchConn publishes to a fake server that reads and drops everything.
func benchConn(b *testing.B) *Conn {
	addr := (&fakeServer{}).start(b)
	c, err := Dial(context.Background(), "rtmp://"+addr+"/live/key", Options{Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(false) })
	return c
}

// BenchmarkSendFrame sends what a 1 Mbit/s camera sends per frame (a 3.7 KB
// video frame and an audio frame) with WriteTag, and pre-chunked in one
// write: the cost per frame and publisher in the load harness.
func BenchmarkSendFrame(b *testing.B) {
	frame := synthFrame(false, 3700)
	audio := make([]byte, 350)
	audio[0], audio[1] = 0xaf, 1
	b.Run("WriteTag", func(b *testing.B) {
		c := benchConn(b)
		ctx := context.Background()
		b.ReportAllocs()
		ts := uint32(0)
		for b.Loop() {
			if err := c.WriteTag(ctx, flv.TagAudio, ts, audio); err != nil {
				b.Fatal(err)
			}
			if err := c.WriteTag(ctx, flv.TagVideo, ts, frame); err != nil {
				b.Fatal(err)
			}
			ts += 33
		}
	})
	b.Run("WriteChunks", func(b *testing.B) {
		c := benchConn(b)
		var buf []byte
		b.ReportAllocs()
		ts := uint32(0)
		for b.Loop() {
			buf, _ = c.AppendTag(buf[:0], flv.TagAudio, ts, audio)
			buf, _ = c.AppendTag(buf, flv.TagVideo, ts, frame)
			if err := c.WriteChunks(buf, time.Now().Add(time.Millisecond)); err != nil && !errors.Is(err, ErrBlocked) {
				b.Fatal(err)
			}
			ts += 33
		}
		if err := c.Flush(time.Time{}); err != nil {
			b.Fatal(err)
		}
	})
}
