package rtmpguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// nested returns n strict arrays, each holding the next, around a null.
func nested(n int) []byte {
	var b []byte
	for range n {
		b = append(b, markerStrictArray, 0, 0, 0, 1)
	}
	return append(b, markerNull)
}

// connectHead is the start of a connect command: name and transaction ID.
var connectHead = []byte{
	markerString, 0, 7, 'c', 'o', 'n', 'n', 'e', 'c', 't',
	markerNumber, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
}

type ruleCase struct {
	name   string
	input  []byte // whole client stream, handshake included
	lim    Limits
	reason string // "" when the stream must pass
	// withheld is how many bytes at the end of input must not be passed on
	// when reason is set (the offending one and what follows). -1: don't check.
	withheld int
}

func ruleCases(t testing.TB) []ruleCase {
	hs := handshake()
	session := publishSession(t)

	var manyStreams []byte
	for csid := uint32(2); csid < 2+DefaultMaxChunkStreams+1; csid++ {
		manyStreams = append(manyStreams, chunked(128, testMessage{csid: csid, typeID: typeAudio, msid: 1, body: []byte{0xaf, 1}})...)
	}

	manyValues := append([]byte{markerStrictArray}, binary.BigEndian.AppendUint32(nil, 5000)...)
	manyValues = append(manyValues, bytes.Repeat([]byte{markerNull}, 5000)...)

	bigVideoHeader := chunkHeader(0, 6, 0, 9<<20, typeVideo, 1)

	return []ruleCase{
		{name: "publish session", input: cat(hs, session)},
		{name: "handshake only", input: hs},
		{
			name:  "large chunk size, messages spanning chunks",
			input: cat(hs, chunked(128, setChunkSize(65536)), chunked(65536, video(0, 200000), audio(0, 300), video(40, 65536))),
		},
		{
			name:  "chunk size 1",
			input: cat(hs, chunked(128, setChunkSize(1)), chunked(1, command(3, 0, amf(t, "connect", 1.0, nil)), video(0, 5))),
		},
		{
			name: "extended timestamp on type 0 and 1, none on type 3",
			input: cat(hs,
				chunkHeader(0, 6, 0x1234567, 200, typeVideo, 1), make([]byte, 128), basicHeader(3, 6), make([]byte, 72),
				chunkHeader(1, 6, 0xFFFFFF, 10, typeVideo, 0), make([]byte, 10),
				chunkHeader(2, 6, 0xFFFFFFF0, 0, 0, 0), make([]byte, 10),
				basicHeader(3, 6), make([]byte, 10),
			),
		},
		{
			name: "two-byte chunk stream IDs",
			input: cat(hs,
				chunked(128, testMessage{csid: 64, typeID: typeAudio, msid: 1, body: make([]byte, 300)}),
				chunked(128, testMessage{csid: 319, typeID: typeAudio, msid: 1, body: make([]byte, 3)}),
				// csid 10 in the 2-byte form is not the same stream as csid 74
				chunked(128, testMessage{csid: 10, typeID: typeVideo, msid: 1, body: make([]byte, 3)}),
				[]byte{3 << 6, 10}, make([]byte, 3), // csid 74 is new: zero-length
			),
			reason:   ReasonZeroLength,
			withheld: 1 + 3,
		},
		{
			name:     "3-byte basic header",
			input:    cat(hs, chunked(128, testMessage{csid: 320, typeID: typeVideo, msid: 1, body: make([]byte, 3)})),
			reason:   ReasonBasicHeader3,
			withheld: 3 + 11 + 3,
		},
		{
			name:     "3-byte basic header for a small ID",
			input:    cat(hs, []byte{1, 0, 0}, chunkHeader(0, 64, 0, 3, typeVideo, 1)[2:], make([]byte, 3)),
			reason:   ReasonBasicHeader3,
			withheld: 3 + 11 + 3,
		},
		{
			name:  "interleaved chunk streams",
			input: cat(hs, interleaved(t)),
		},
		{
			name:  "amf nesting at the limit",
			input: cat(hs, chunked(128, command(3, 0, cat(connectHead, nested(DefaultMaxAMFDepth))))),
		},
		{
			name: "every AMF0 type",
			input: cat(hs, chunked(128, command(3, 0, cat(connectHead,
				[]byte{markerBoolean, 1, markerNull, markerUndefined, markerUnsupported, markerReference, 0, 1},
				[]byte{markerDate, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
				[]byte{markerLongString, 0, 0, 0, 2, 'h', 'i', markerXMLDocument, 0, 0, 0, 1, 'x'},
				[]byte{markerTypedObject, 0, 1, 'T', 0, 1, 'a', markerNull, 0, 0, markerObjectEnd},
				[]byte{markerECMAArray, 0, 0, 0, 1, 0, 1, 'k', markerString, 0, 0, 0, 0, markerObjectEnd},
				[]byte{markerObject, 0, 0, markerObjectEnd},
			)))),
		},

		{name: "bad C0", input: cat([]byte{6}, hs[1:]), reason: ReasonBadVersion, withheld: len(hs)},
		{
			name:     "huge strict array",
			input:    cat(hs, chunked(128, command(3, 0, cat(connectHead, []byte{markerStrictArray, 0x7f, 0xff, 0xff, 0xff})))),
			reason:   ReasonAMFOverflow,
			withheld: 1,
		},
		{
			name:     "huge strict array, not the first message",
			input:    cat(hs, session, chunked(4096, command(3, 0, cat(connectHead, []byte{markerStrictArray, 0, 0, 0, 2, markerNull}))), chunked(4096, video(0, 10))),
			reason:   ReasonAMFOverflow,
			withheld: 1 + 12 + 10,
		},
		{
			name:     "huge long string",
			input:    cat(hs, chunked(128, command(3, 0, cat(connectHead, []byte{markerLongString, 0xff, 0xff, 0xff, 0xff, 'x'})))),
			reason:   ReasonAMFOverflow,
			withheld: 1,
		},
		{
			name:     "string past the end",
			input:    cat(hs, chunked(128, command(3, 0, []byte{markerString, 0, 10, 'a', 'b'}))),
			reason:   ReasonAMFOverflow,
			withheld: 1,
		},
		{
			name:     "huge ECMA array count",
			input:    cat(hs, chunked(128, testMessage{csid: 4, typeID: typeDataAMF0, msid: 1, body: []byte{markerECMAArray, 0xff, 0xff, 0xff, 0xff, 0, 0, markerObjectEnd}})),
			reason:   ReasonAMFOverflow,
			withheld: 1,
		},
		{
			name:     "truncated number",
			input:    cat(hs, chunked(128, command(3, 0, []byte{markerNumber, 1, 2, 3}))),
			reason:   ReasonAMFOverflow,
			withheld: 1,
		},
		{
			name:     "object without end",
			input:    cat(hs, chunked(128, command(3, 0, cat(connectHead, []byte{markerObject, 0, 1, 'a', markerNull})))),
			reason:   ReasonAMFTruncated,
			withheld: 1,
		},
		{
			name:     "empty key without object end",
			input:    cat(hs, chunked(128, command(3, 0, cat(connectHead, []byte{markerObject, 0, 0, markerNull})))),
			reason:   ReasonAMFBadMarker,
			withheld: 1,
		},
		{
			name:     "deep nesting",
			input:    cat(hs, chunked(128, command(3, 0, cat(connectHead, nested(DefaultMaxAMFDepth+1))))),
			reason:   ReasonAMFTooDeep,
			withheld: 1,
		},
		{
			name:     "deep nesting, lower limit",
			input:    cat(hs, chunked(128, command(3, 0, cat(connectHead, []byte{markerObject, 0, 1, 'a', markerObject, 0, 1, 'b', markerNull, 0, 0, markerObjectEnd, 0, 0, markerObjectEnd})))),
			lim:      Limits{MaxAMFDepth: 1},
			reason:   ReasonAMFTooDeep,
			withheld: 1,
		},
		{
			name:     "too many values",
			input:    cat(hs, chunked(128, testMessage{csid: 4, typeID: typeDataAMF0, msid: 1, body: manyValues})),
			reason:   ReasonAMFTooManyValues,
			withheld: 1,
		},
		{
			name:     "AMF3 switch marker",
			input:    cat(hs, chunked(128, command(3, 0, cat(connectHead, []byte{markerAVMPlus, 0x01})))),
			reason:   ReasonAMFBadMarker,
			withheld: 1,
		},
		{
			name:     "object end as a value",
			input:    cat(hs, chunked(128, command(3, 0, []byte{markerObjectEnd}))),
			reason:   ReasonAMFBadMarker,
			withheld: 1,
		},
		{
			name:     "oversize message",
			input:    cat(hs, bigVideoHeader, make([]byte, 128)),
			reason:   ReasonMessageTooLarge,
			withheld: 128 + len(bigVideoHeader) - 11, // from the last message header byte
		},
		{
			name:     "oversize message, lower limit",
			input:    cat(hs, chunked(128, video(0, 1001))),
			lim:      Limits{MaxMessageSize: 1000},
			reason:   ReasonMessageTooLarge,
			withheld: 1 + 1001 + 7, // last header byte, payload, 7 type 3 headers
		},
		{
			name:     "oversize command",
			input:    cat(hs, chunkHeader(0, 3, 0, DefaultMaxCommandSize+1, typeCommandAMF0, 0)),
			reason:   ReasonCommandTooLarge,
			withheld: 1,
		},
		{
			name:     "zero-length message",
			input:    cat(hs, chunkHeader(0, 3, 0, 0, typeCommandAMF0, 0), chunked(128, video(0, 10))),
			reason:   ReasonZeroLength,
			withheld: 1 + 12 + 10,
		},
		{
			name:     "type 3 chunk on a new chunk stream",
			input:    cat(hs, basicHeader(3, 9), make([]byte, 10)),
			reason:   ReasonZeroLength,
			withheld: 11,
		},
		{
			name:     "type 2 chunk on a new chunk stream",
			input:    cat(hs, chunkHeader(2, 9, 5, 0, 0, 0)),
			reason:   ReasonZeroLength,
			withheld: 1,
		},
		{
			name:     "too many chunk streams",
			input:    cat(hs, manyStreams),
			reason:   ReasonTooManyChunkStream,
			withheld: 1 + 11 + 2,
		},
		{
			name:     "set chunk size 0",
			input:    cat(hs, chunked(128, setChunkSize(0))),
			reason:   ReasonBadSetChunkSize,
			withheld: 1,
		},
		{
			name:     "set chunk size with the reserved bit",
			input:    cat(hs, chunked(128, setChunkSize(0x80000080))),
			reason:   ReasonBadSetChunkSize,
			withheld: 1,
		},
		{
			name:     "set chunk size too large",
			input:    cat(hs, chunked(128, setChunkSize(1<<24))),
			reason:   ReasonChunkSizeTooLarge,
			withheld: 1,
		},
		{
			name:     "set chunk size above a lower limit",
			input:    cat(hs, chunked(128, setChunkSize(8192))),
			lim:      Limits{MaxChunkSize: 4096},
			reason:   ReasonChunkSizeTooLarge,
			withheld: 1,
		},
		{
			name:     "set chunk size of 5 bytes",
			input:    cat(hs, chunked(128, testMessage{csid: 2, typeID: typeSetChunkSize, body: []byte{0, 0, 16, 0, 0}})),
			reason:   ReasonBadSetChunkSize,
			withheld: 1 + 5,
		},
		{
			name:     "set chunk size on message stream 1",
			input:    cat(hs, chunked(128, testMessage{csid: 2, typeID: typeSetChunkSize, msid: 1, body: []byte{0, 0, 16, 0}})),
			reason:   ReasonBadSetChunkSize,
			withheld: 1 + 4,
		},
		{
			name:     "type 1 header inside a message",
			input:    cat(hs, chunkHeader(0, 6, 0, 300, typeVideo, 1), make([]byte, 128), chunkHeader(1, 6, 0, 100, typeVideo, 0), make([]byte, 100)),
			reason:   ReasonHeaderInMessage,
			withheld: 8 + 100,
		},
		{
			name:     "AMF3 command",
			input:    cat(hs, chunked(128, testMessage{csid: 3, typeID: typeCommandAMF3, body: cat([]byte{0}, connectHead)})),
			reason:   ReasonUnsupportedType,
			withheld: 1 + 20,
		},
		{
			name:     "aggregate message",
			input:    cat(hs, chunked(128, testMessage{csid: 6, typeID: typeAggregate, msid: 1, body: make([]byte, 20)})),
			reason:   ReasonUnsupportedType,
			withheld: 1 + 20,
		},
		{
			name:     "undefined message type",
			input:    cat(hs, chunked(128, testMessage{csid: 6, typeID: 7, msid: 1, body: make([]byte, 20)})),
			reason:   ReasonUnsupportedType,
			withheld: 1 + 20,
		},
		{
			name:     "oversize control message",
			input:    cat(hs, chunked(128, testMessage{csid: 2, typeID: typeWinAckSize, body: make([]byte, 100)})),
			reason:   ReasonControlTooLarge,
			withheld: 1 + 100,
		},
	}
}

// interleaved sends audio and a command between the chunks of a video message,
// as encoders do.
func interleaved(t testing.TB) []byte {
	v := video(0, 300)
	cmd := amf(t, "FCPublish", 3.0, nil, string(bytes.Repeat([]byte("k"), 200)))
	return cat(
		chunkHeader(0, 6, 0, 300, typeVideo, 1), v.body[:128],
		chunked(128, audio(0, 20)),
		chunkHeader(0, 3, 0, uint32(len(cmd)), typeCommandAMF0, 0), cmd[:128],
		basicHeader(3, 6), v.body[128:256],
		basicHeader(3, 3), cmd[128:],
		basicHeader(3, 6), v.body[256:],
	)
}

func TestReaderRules(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for _, tc := range ruleCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			for rname, wrap := range readers {
				var msgs []messageInfo
				g := NewReader(wrap(bytes.NewReader(tc.input)), tc.lim)
				g.onMessage = func(m messageInfo) { msgs = append(msgs, m) }
				out, err := readAll(g, 4096)
				require.Equal(t, tc.input[:len(out)], out, "%s: passed bytes differ from input", rname)

				if tc.reason == "" {
					require.ErrorIs(t, err, io.EOF, rname)
					require.Equal(t, tc.input, out, rname)
				} else {
					var v *Violation
					require.ErrorAs(t, err, &v, rname)
					require.ErrorIs(t, err, ErrViolation, rname)
					require.Equal(t, tc.reason, v.Reason, "%s: %v", rname, err)
					require.Equal(t, int64(len(out)), v.Offset, rname)
					if tc.withheld >= 0 {
						require.Equal(t, tc.withheld, len(tc.input)-len(out), "%s: withheld bytes: %v", rname, err)
					}
					// The violation is sticky.
					n, err2 := g.Read(make([]byte, 10))
					require.Zero(t, n)
					require.Equal(t, err, err2)
				}
				st := g.Stats()
				require.Equal(t, uint64(len(out)), st.Bytes, rname)
				require.Equal(t, uint64(len(msgs)), st.Messages, rname)
				requireInSync(t, out, err, msgs, tc.lim)
			}
		})
	}
}

func TestReaderTruncatedIsEOF(t *testing.T) {
	session := cat(handshake(), publishSession(t))
	for _, n := range []int{0, 1, 500, 1 + 2*handshakeSize, 1 + 2*handshakeSize + 1, 1 + 2*handshakeSize + 5, 1 + 2*handshakeSize + 12 + 50, len(session) - 1} {
		g := NewReader(bytes.NewReader(session[:n]), Limits{})
		out, err := readAll(g, 333)
		require.ErrorIs(t, err, io.EOF, "cut at %d", n)
		require.False(t, errors.Is(err, ErrViolation), "cut at %d", n)
		require.Equal(t, session[:n], out, "cut at %d", n)
	}
}

func TestReaderPassesSourceErrors(t *testing.T) {
	boom := errors.New("boom")
	g := NewReader(io.MultiReader(bytes.NewReader(handshake()[:100]), errReader{boom}), Limits{})
	out, err := readAll(g, 64)
	require.ErrorIs(t, err, boom)
	require.Len(t, out, 100)
}

func TestLimitsDefaults(t *testing.T) {
	require.Equal(t, Limits{
		MaxMessageSize:  8 << 20,
		MaxCommandSize:  64 << 10,
		MaxChunkSize:    1<<24 - 1,
		MaxChunkStreams: 64,
		MaxAMFDepth:     32,
		MaxAMFValues:    4096,
	}, Limits{}.withDefaults())
	require.Equal(t, 1<<24-1, Limits{MaxChunkSize: 1 << 30, MaxMessageSize: 1 << 30}.withDefaults().MaxChunkSize)
	require.Equal(t, 1<<24-1, Limits{MaxChunkSize: 1 << 30, MaxMessageSize: 1 << 30}.withDefaults().MaxMessageSize)
}

func TestViolationError(t *testing.T) {
	v := &Violation{Reason: ReasonZeroLength, Detail: "type 9, 0 bytes", Offset: 3100}
	require.Equal(t, "rtmpguard: zero-length message: type 9, 0 bytes (stream byte 3100)", v.Error())
	require.ErrorIs(t, v, ErrViolation)
}
