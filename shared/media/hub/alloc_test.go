package hub

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/media/flv"
)

func TestPacketAllocCarvesWholeTags(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int
		// ownBlock marks the tags expected outside a slab.
		ownBlock []bool
	}{
		{"small frames share a slab", []int{4, 4200, 280, 1}, []bool{false, false, false, false}},
		{"a large keyframe is allocated alone", []int{4200, slabSize/4 + 1, 280}, []bool{false, true, false}},
		{"the largest slab tag", []int{slabSize/4 - flv.TagHeaderSize - flv.PrevSizeLength}, []bool{false}},
		{"a tag that does not fit starts a new slab", []int{30000, 30000, 30000, 30000, 30000, 280}, []bool{false, false, false, false, false, false}},
		{"more packets than a chunk", slices.Repeat([]int{100}, chunkLen*2+3), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a packetAlloc
			var pkts []*Packet
			var datas [][]byte
			for i, n := range tt.sizes {
				data := bytes.Repeat([]byte{byte(i + 1)}, n)
				p := a.packet(flv.TagVideo, uint32(i), data)
				pkts = append(pkts, p)
				datas = append(datas, data)
			}
			for i, p := range pkts {
				tag := p.FLVTag()
				require.Equal(t, len(tag), cap(tag), "packet %d: a tag must not reach into its neighbour", i)
				require.Equal(t, datas[i], p.Data(), "packet %d", i)
				require.Equal(t, byte(flv.TagVideo), tag[0])
				require.Equal(t, uint32(len(datas[i])+flv.TagHeaderSize), binary.BigEndian.Uint32(tag[len(tag)-4:]), "packet %d: previous tag size", i)
				require.Equal(t, uint32(i), p.Time)
				if tt.ownBlock != nil {
					inSlab := i > 0 && adjacent(pkts[i-1].FLVTag(), tag) || i+1 < len(pkts) && adjacent(tag, pkts[i+1].FLVTag())
					if tt.ownBlock[i] {
						require.False(t, inSlab, "packet %d: a large tag is allocated alone", i)
					}
				}
			}
		})
	}
}

// adjacent reports whether b starts where a ends in memory.
func adjacent(a, b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(a)))+uintptr(len(a)) == uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

func TestSequenceHeadersDoNotPinSlabs(t *testing.T) {
	h := newTestHub(Config{})
	p, err := h.Publish("s", PublishOptions{})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(0, keyframe()))
	require.NoError(t, p.WriteVideo(0, avcHeader))
	require.NoError(t, p.WriteVideo(33, inter()))
	s := p.Stream()
	s.mu.RLock()
	hdr := s.vhdr
	pkts := append([]*Packet(nil), s.pkts...)
	s.mu.RUnlock()
	require.NotNil(t, hdr)
	var frames []*Packet
	for _, q := range pkts {
		if !q.Header {
			frames = append(frames, q)
		}
	}
	require.Len(t, frames, 2)
	require.True(t, adjacent(frames[0].FLVTag(), frames[1].FLVTag()), "media frames share a slab")
	require.False(t, adjacent(frames[0].FLVTag(), hdr.FLVTag()) || adjacent(hdr.FLVTag(), frames[1].FLVTag()), "the sequence header has a block of its own")
}

func TestReadForgetsStaleEntries(t *testing.T) {
	h := newTestHub(Config{})
	p, err := h.Publish("s", PublishOptions{})
	require.NoError(t, err)
	require.NoError(t, p.WriteVideo(0, avcHeader))
	publishGOPs(t, p, 0, 1, 30)
	sub, err := h.Subscribe("s", SubscribeOptions{})
	require.NoError(t, err)
	defer sub.Close()
	ctx := context.Background()
	buf, err := sub.Read(ctx, nil) // the GOP cache: a large batch
	require.NoError(t, err)
	require.Greater(t, len(buf), 30)
	require.NoError(t, p.WriteVideo(1000, inter()))
	buf, err = sub.Read(ctx, buf)
	require.NoError(t, err)
	require.Len(t, buf, 1)
	for i, q := range buf[len(buf):cap(buf)] {
		require.Nil(t, q, "entry %d past the batch still points at an old packet", len(buf)+i)
	}
}
