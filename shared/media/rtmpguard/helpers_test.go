package rtmpguard

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-amf0"
	"github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// handshake is C0, C1 and C2 of a client.
func handshake() []byte {
	b := make([]byte, 1+2*handshakeSize)
	b[0] = handshakeVersion
	for i := 1; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	return b
}

// basicHeader encodes a chunk basic header in its shortest form.
func basicHeader(fmt byte, csid uint32) []byte {
	switch {
	case csid < 64:
		return []byte{fmt<<6 | byte(csid)}
	case csid < 320:
		return []byte{fmt << 6, byte(csid - 64)}
	default:
		return []byte{fmt<<6 | 1, byte((csid - 64) % 256), byte((csid - 64) / 256)}
	}
}

// chunkHeader encodes a basic and message header; ts >= 0xFFFFFF adds the
// extended timestamp (for types 0, 1 and 2, as go-rtmp writes it).
func chunkHeader(fmt byte, csid, ts, length uint32, typeID uint8, msid uint32) []byte {
	b := basicHeader(fmt, csid)
	t := min(ts, extTimestamp)
	t24 := []byte{byte(t >> 16), byte(t >> 8), byte(t)}
	switch fmt {
	case 0:
		b = append(b, t24...)
		b = append(b, byte(length>>16), byte(length>>8), byte(length), typeID)
		b = binary.LittleEndian.AppendUint32(b, msid)
	case 1:
		b = append(b, t24...)
		b = append(b, byte(length>>16), byte(length>>8), byte(length), typeID)
	case 2:
		b = append(b, t24...)
	}
	if fmt != 3 && ts >= extTimestamp {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	return b
}

type testMessage struct {
	csid   uint32
	typeID uint8
	msid   uint32
	ts     uint32
	body   []byte
}

// chunked splits messages into chunks the way go-rtmp's writer does: a type 0
// header, then type 3 continuation headers without extended timestamp.
func chunked(chunkSize int, msgs ...testMessage) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(b, chunkHeader(0, m.csid, m.ts, uint32(len(m.body)), m.typeID, m.msid)...)
		for off := 0; off < len(m.body); off += chunkSize {
			if off > 0 {
				b = append(b, basicHeader(3, m.csid)...)
			}
			b = append(b, m.body[off:min(off+chunkSize, len(m.body))]...)
		}
	}
	return b
}

func setChunkSize(v uint32) testMessage {
	return testMessage{csid: 2, typeID: typeSetChunkSize, body: binary.BigEndian.AppendUint32(nil, v)}
}

func command(csid, msid uint32, body []byte) testMessage {
	return testMessage{csid: csid, typeID: typeCommandAMF0, msid: msid, body: body}
}

func video(ts uint32, n int) testMessage {
	body := make([]byte, n)
	for i := range body {
		body[i] = byte(i)
	}
	body[0] = 0x17
	return testMessage{csid: 6, typeID: typeVideo, msid: 1, ts: ts, body: body}
}

func audio(ts uint32, n int) testMessage {
	body := bytes.Repeat([]byte{0xaf}, n)
	return testMessage{csid: 4, typeID: typeAudio, msid: 1, ts: ts, body: body}
}

// amf encodes values with go-amf0.
func amf(t testing.TB, vals ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := amf0.NewEncoder(&buf)
	for _, v := range vals {
		require.NoError(t, enc.Encode(v))
	}
	return buf.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// publishSession is what a publisher sends after the handshake: connect,
// chunk size 4096, createStream, publish, metadata, then media.
func publishSession(t testing.TB) []byte {
	connect := amf(t, "connect", 1.0, map[string]any{
		"app": "live", "tcUrl": "rtmp://localhost/live", "flashVer": "FMLE/3.0", "fpad": false,
	})
	meta := amf(t, "@setDataFrame", "onMetaData", amf0.ECMAArray{
		"width": 1280.0, "height": 720.0, "videocodecid": 7.0, "encoder": "obs",
	})
	return cat(
		chunked(128, command(3, 0, connect)),
		chunked(128, setChunkSize(4096)),
		chunked(4096,
			command(3, 0, amf(t, "createStream", 2.0, nil)),
			command(8, 1, amf(t, "publish", 0.0, nil, "key", "live")),
			testMessage{csid: 8, typeID: typeDataAMF0, msid: 1, body: meta},
			video(0, 40),
			audio(0, 9),
			video(33, 10000),
			audio(0x1000000, 9), // extended timestamp
			video(0x1000010, 9000),
		),
	)
}

// readAll reads r to the end with reads of size step, returning the bytes and
// the error that stopped it.
func readAll(r io.Reader, step int) ([]byte, error) {
	out := []byte{}
	buf := make([]byte, step)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

// errReader returns err forever.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// tailReader returns err forever, and records that it was reached.
type tailReader struct {
	err     error
	reached bool
}

func (e *tailReader) Read([]byte) (int, error) {
	e.reached = true
	return 0, e.err
}

// replayGoRTMP feeds data (what the guard passed on), then tail (the error it
// stopped with), to go-rtmp's own chunk reader, applies Set Chunk Size as
// go-rtmp's stream handler does, and decodes AMF0 bodies with go-amf0 into
// interface values as go-rtmp's command handlers do. It returns the messages
// go-rtmp read, the error it stopped with (a panic is returned as an error),
// and whether it stopped because it reached the end of data.
func replayGoRTMP(data []byte, tail error, lim Limits) (msgs []messageInfo, atEnd bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("go-rtmp panicked: %v", r)
			atEnd = false
		}
	}()
	lim = lim.withDefaults()
	cfg := &rtmp.StreamControlStateConfig{
		DefaultChunkSize:           initialChunkSize,
		MaxChunkSize:               uint32(lim.MaxChunkSize),
		MaxChunkStreams:            lim.MaxChunkStreams,
		DefaultAckWindowSize:       math.MaxInt32,
		MaxAckWindowSize:           math.MaxInt32,
		DefaultBandwidthWindowSize: math.MaxInt32,
		MaxBandwidthWindowSize:     math.MaxInt32,
		MaxMessageSize:             uint32(lim.MaxMessageSize),
		MaxMessageStreams:          8,
	}
	end := &tailReader{err: tail}
	cs := rtmp.NewChunkStreamer(io.MultiReader(bytes.NewReader(data), end), io.Discard, cfg)
	defer cs.Close()
	for {
		var cm rtmp.ChunkMessage
		csid, _, err := cs.Read(&cm)
		if err != nil {
			return msgs, end.reached, err
		}
		info := messageInfo{csid: uint32(csid), typeID: uint8(cm.Message.TypeID()), streamID: cm.StreamID}
		switch m := cm.Message.(type) {
		case *message.SetChunkSize:
			if err := cs.PeerState().SetChunkSize(m.ChunkSize); err != nil {
				return msgs, end.reached, err
			}
		case *message.AudioMessage:
			n, _ := io.Copy(io.Discard, m.Payload)
			info.length = uint32(n)
		case *message.VideoMessage:
			n, _ := io.Copy(io.Discard, m.Payload)
			info.length = uint32(n)
		case *message.CommandMessage:
			decodeAMF0(m.Body)
		case *message.DataMessage:
			decodeAMF0(m.Body)
		}
		msgs = append(msgs, info)
	}
}

func decodeAMF0(r io.Reader) {
	dec := amf0.NewDecoder(r)
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			return
		}
	}
}

// requireInSync checks that go-rtmp, reading what the guard passed on, read
// the same messages the guard saw, and did not panic.
func requireInSync(t testing.TB, passed []byte, guardErr error, guardMsgs []messageInfo, lim Limits) {
	t.Helper()
	body := passed[min(len(passed), 1+2*handshakeSize):]
	tail := guardErr
	if tail == nil {
		tail = io.EOF
	}
	goMsgs, atEnd, goErr := replayGoRTMP(body, tail, lim)
	require.NotContains(t, fmt.Sprint(goErr), "panicked")
	require.LessOrEqual(t, len(goMsgs), len(guardMsgs), "go-rtmp read messages the guard did not")
	for i, g := range goMsgs {
		want := guardMsgs[i]
		if want.typeID != typeAudio && want.typeID != typeVideo {
			want.length = 0
		}
		require.Equal(t, want, g, "message %d", i)
	}
	if atEnd {
		require.Len(t, goMsgs, len(guardMsgs), "go-rtmp stopped at %v", goErr)
	} else {
		// go-rtmp refused a message body the guard let through (an AMF type
		// go-amf0 does not implement, a short control message): it must
		// have read that whole message, so it agrees on the framing.
		require.Less(t, len(goMsgs), len(guardMsgs), "go-rtmp failed below the message layer: %v", goErr)
	}
}
