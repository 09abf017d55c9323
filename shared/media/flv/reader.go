package flv

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Tag is one decoded FLV tag. Data is owned by the caller after Next returns.
type Tag struct {
	Type      TagType
	Timestamp uint32
	Data      []byte
}

// Reader reads an FLV byte stream: the file header, then tags.
type Reader struct {
	r        *bufio.Reader
	hdr      [TagHeaderSize]byte
	maxSize  int
	HasAudio bool
	HasVideo bool
	started  bool
}

// NewReader wraps r. Tags larger than maxTagSize (0 = 16 MiB) are refused.
func NewReader(r io.Reader, maxTagSize int) *Reader {
	if maxTagSize <= 0 || maxTagSize > MaxTagDataSize {
		maxTagSize = MaxTagDataSize
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), maxSize: maxTagSize}
}

// ReadHeader reads and checks the file header. Next calls it when needed.
func (r *Reader) ReadHeader() error {
	var h [HeaderSize + PrevSizeLength]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		return fmt.Errorf("flv: header: %w", err)
	}
	if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
		return fmt.Errorf("flv: bad signature %q", h[:3])
	}
	off := binary.BigEndian.Uint32(h[5:9])
	if off < HeaderSize || off > 1024 {
		return fmt.Errorf("flv: bad data offset %d", off)
	}
	if skip := int(off) - HeaderSize; skip > 0 {
		if _, err := r.r.Discard(skip); err != nil {
			return fmt.Errorf("flv: header: %w", noEOF(err))
		}
	}
	r.HasAudio = h[4]&0x04 != 0
	r.HasVideo = h[4]&0x01 != 0
	r.started = true
	return nil
}

// Next reads the next tag, allocating its data.
func (r *Reader) Next() (Tag, error) {
	return r.next(nil)
}

// NextInto reads the next tag into buf (grown if needed); Data aliases buf.
func (r *Reader) NextInto(buf []byte) (Tag, error) {
	return r.next(buf)
}

func (r *Reader) next(buf []byte) (Tag, error) {
	if !r.started {
		if err := r.ReadHeader(); err != nil {
			return Tag{}, err
		}
	}
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return Tag{}, fmt.Errorf("flv: tag header: %w", err)
		}
		return Tag{}, err
	}
	h, err := ParseTagHeader(r.hdr[:])
	if err != nil {
		return Tag{}, err
	}
	if h.Filter {
		return Tag{}, fmt.Errorf("flv: %s tag is encrypted (filter bit set)", h.Type)
	}
	// Tag carries no reserved bits nor stream id: refuse what it cannot pass on.
	if r.hdr[0]&0xc0 != 0 || r.hdr[8]|r.hdr[9]|r.hdr[10] != 0 {
		return Tag{}, fmt.Errorf("flv: %s tag header has reserved bits or a stream id set", h.Type)
	}
	if h.DataSize > r.maxSize {
		return Tag{}, fmt.Errorf("flv: %s tag of %d bytes exceeds limit %d", h.Type, h.DataSize, r.maxSize)
	}
	if cap(buf) < h.DataSize {
		buf = make([]byte, h.DataSize)
	}
	buf = buf[:h.DataSize]
	if _, err := io.ReadFull(r.r, buf); err != nil {
		return Tag{}, fmt.Errorf("flv: %s tag data: %w", h.Type, noEOF(err))
	}
	var prev [PrevSizeLength]byte
	if _, err := io.ReadFull(r.r, prev[:]); err != nil {
		return Tag{}, fmt.Errorf("flv: previous tag size: %w", noEOF(err))
	}
	if p := binary.BigEndian.Uint32(prev[:]); p != uint32(h.DataSize+TagHeaderSize) {
		return Tag{}, fmt.Errorf("flv: previous tag size %d, want %d", p, h.DataSize+TagHeaderSize)
	}
	return Tag{Type: h.Type, Timestamp: h.Timestamp, Data: buf}, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
