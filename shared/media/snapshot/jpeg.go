package snapshot

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxJPEGSize bounds one picture read by JPEGReader.
const DefaultMaxJPEGSize = 16 << 20

// ErrJPEGTooLarge is returned for a picture over the reader's size limit.
var ErrJPEGTooLarge = errors.New("jpeg: picture larger than the limit")

// JPEGReader splits a stream of concatenated baseline or progressive JPEG
// pictures (ffmpeg's `-f image2pipe -c:v mjpeg` output) into whole pictures.
//
// It is written here rather than taken from image/jpeg because the standard
// decoder reads past the end of a picture into its own buffer and decodes the
// pixels, while only the boundaries are wanted: the reader walks the marker
// segments (whose lengths it trusts only up to the size limit) and scans the
// entropy-coded data for the next marker, so a picture is never decoded.
type JPEGReader struct {
	r   *bufio.Reader
	max int
}

// NewJPEGReader reads pictures from r, each at most max bytes (0 = DefaultMaxJPEGSize).
func NewJPEGReader(r io.Reader, max int) *JPEGReader {
	if max <= 0 {
		max = DefaultMaxJPEGSize
	}
	return &JPEGReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next whole picture (SOI through EOI). It returns io.EOF at
// a clean end between pictures and io.ErrUnexpectedEOF inside one.
func (j *JPEGReader) Next() ([]byte, error) {
	var soi [2]byte
	if _, err := io.ReadFull(j.r, soi[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("jpeg: start: %w", noEOF(err))
	}
	if soi[0] != 0xFF || soi[1] != 0xD8 {
		return nil, fmt.Errorf("jpeg: no start-of-image marker (got % x)", soi)
	}
	out := append(make([]byte, 0, 64<<10), soi[:]...)
	add := func(b ...byte) error {
		if len(out)+len(b) > j.max {
			return ErrJPEGTooLarge
		}
		out = append(out, b...)
		return nil
	}
	marker := -1 // a marker already read by the entropy-data scan
	for {
		m := marker
		marker = -1
		if m < 0 {
			b, err := j.r.ReadByte()
			if err != nil {
				return nil, fmt.Errorf("jpeg: marker: %w", noEOF(err))
			}
			if b != 0xFF {
				return nil, fmt.Errorf("jpeg: expected a marker, got 0x%02x", b)
			}
			for b == 0xFF { // fill bytes
				if b, err = j.r.ReadByte(); err != nil {
					return nil, fmt.Errorf("jpeg: marker: %w", noEOF(err))
				}
			}
			m = int(b)
		}
		if err := add(0xFF, byte(m)); err != nil {
			return nil, err
		}
		switch {
		case m == 0xD9: // EOI
			return out, nil
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // no length
			continue
		case m == 0x00 || m == 0xD8:
			return nil, fmt.Errorf("jpeg: unexpected marker 0x%02x", m)
		}
		var lb [2]byte
		if _, err := io.ReadFull(j.r, lb[:]); err != nil {
			return nil, fmt.Errorf("jpeg: segment length: %w", noEOF(err))
		}
		n := int(lb[0])<<8 | int(lb[1])
		if n < 2 {
			return nil, fmt.Errorf("jpeg: segment 0x%02x length %d", m, n)
		}
		if len(out)+n > j.max {
			return nil, ErrJPEGTooLarge
		}
		out = append(out, lb[:]...)
		start := len(out)
		out = append(out, make([]byte, n-2)...)
		if _, err := io.ReadFull(j.r, out[start:]); err != nil {
			return nil, fmt.Errorf("jpeg: segment 0x%02x: %w", m, noEOF(err))
		}
		if m != 0xDA { // not start-of-scan
			continue
		}
		// Entropy-coded data runs until a marker other than a stuffed 0x00
		// or a restart marker.
		for marker < 0 {
			b, err := j.r.ReadByte()
			if err != nil {
				return nil, fmt.Errorf("jpeg: scan data: %w", noEOF(err))
			}
			if b != 0xFF {
				if err := add(b); err != nil {
					return nil, err
				}
				continue
			}
			for b == 0xFF {
				if b, err = j.r.ReadByte(); err != nil {
					return nil, fmt.Errorf("jpeg: scan data: %w", noEOF(err))
				}
			}
			if b == 0x00 || (b >= 0xD0 && b <= 0xD7) {
				if err := add(0xFF, b); err != nil {
					return nil, err
				}
				continue
			}
			marker = int(b)
		}
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
