package rtmpguard

import "fmt"

// AMF0 markers (AMF0 specification, section 2.1).
const (
	markerNumber      = 0x00
	markerBoolean     = 0x01
	markerString      = 0x02
	markerObject      = 0x03
	markerMovieClip   = 0x04 // reserved, no defined encoding
	markerNull        = 0x05
	markerUndefined   = 0x06
	markerReference   = 0x07
	markerECMAArray   = 0x08
	markerObjectEnd   = 0x09
	markerStrictArray = 0x0A
	markerDate        = 0x0B
	markerLongString  = 0x0C
	markerUnsupported = 0x0D
	markerRecordSet   = 0x0E // reserved, no defined encoding
	markerXMLDocument = 0x0F
	markerTypedObject = 0x10
	markerAVMPlus     = 0x11 // switch to AMF3, which we do not walk
)

// minECMAEntry is the smallest an ECMA array entry can be: a 2-byte key length
// and a 1-byte marker. go-amf0 ignores the declared count and reads up to the
// object-end marker, but other decoders size maps from it.
const minECMAEntry = 3

// amfWalker checks that a whole AMF0 message is well formed and bounded,
// without decoding or allocating: every declared length and count must fit in
// the bytes left, nesting and the number of values are limited, and only
// AMF0 markers with a defined encoding are accepted. It parses exactly as
// go-amf0 does where go-amf0 implements a type, so the two cannot disagree on
// where a value ends.
type amfWalker struct {
	b         []byte
	pos       int
	values    int
	maxDepth  int
	maxValues int
}

// walk checks b as a sequence of top-level AMF0 values (a command name,
// transaction ID and arguments, or a data message).
func (w *amfWalker) walk(b []byte) (reason, detail string) {
	w.b, w.pos, w.values = b, 0, 0
	defer func() { w.b = nil }()
	for w.pos < len(w.b) {
		if reason, detail := w.value(0); reason != "" {
			return reason, detail
		}
	}
	return "", ""
}

func (w *amfWalker) left() int { return len(w.b) - w.pos }

func (w *amfWalker) truncated(what string, want int) (string, string) {
	return ReasonAMFTruncated, fmt.Sprintf("%s needs %d bytes, %d left at byte %d", what, want, w.left(), w.pos)
}

// skip steps over n bytes of a value's body.
func (w *amfWalker) skip(n uint64, what string) (string, string) {
	if n > uint64(w.left()) {
		return ReasonAMFOverflow, fmt.Sprintf("%s declares %d bytes, %d left at byte %d", what, n, w.left(), w.pos)
	}
	w.pos += int(n)
	return "", ""
}

func (w *amfWalker) u16(what string) (uint64, string, string) {
	if w.left() < 2 {
		r, d := w.truncated(what+" length", 2)
		return 0, r, d
	}
	v := uint64(w.b[w.pos])<<8 | uint64(w.b[w.pos+1])
	w.pos += 2
	return v, "", ""
}

func (w *amfWalker) u32(what string) (uint64, string, string) {
	if w.left() < 4 {
		r, d := w.truncated(what+" length", 4)
		return 0, r, d
	}
	b := w.b[w.pos:]
	v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	w.pos += 4
	return v, "", ""
}

func (w *amfWalker) enter(depth int, what string) (string, string) {
	if depth > w.maxDepth {
		return ReasonAMFTooDeep, fmt.Sprintf("%s at depth %d, limit %d, at byte %d", what, depth, w.maxDepth, w.pos)
	}
	return "", ""
}

// value checks one value; depth is the number of containers around it.
func (w *amfWalker) value(depth int) (reason, detail string) {
	if w.left() < 1 {
		return w.truncated("value marker", 1)
	}
	w.values++
	if w.values > w.maxValues {
		return ReasonAMFTooManyValues, fmt.Sprintf("more than %d values, at byte %d", w.maxValues, w.pos)
	}
	marker := w.b[w.pos]
	w.pos++
	switch marker {
	case markerNumber:
		return w.skip(8, "number")
	case markerBoolean:
		return w.skip(1, "boolean")
	case markerString:
		n, reason, detail := w.u16("string")
		if reason != "" {
			return reason, detail
		}
		return w.skip(n, "string")
	case markerNull, markerUndefined, markerUnsupported:
		return "", ""
	case markerReference:
		return w.skip(2, "reference")
	case markerDate:
		return w.skip(10, "date")
	case markerLongString, markerXMLDocument:
		n, reason, detail := w.u32("long string")
		if reason != "" {
			return reason, detail
		}
		return w.skip(n, "long string")
	case markerObject:
		if reason, detail := w.enter(depth+1, "object"); reason != "" {
			return reason, detail
		}
		return w.properties(depth + 1)
	case markerTypedObject:
		if reason, detail := w.enter(depth+1, "typed object"); reason != "" {
			return reason, detail
		}
		n, reason, detail := w.u16("class name")
		if reason != "" {
			return reason, detail
		}
		if reason, detail := w.skip(n, "class name"); reason != "" {
			return reason, detail
		}
		return w.properties(depth + 1)
	case markerECMAArray:
		if reason, detail := w.enter(depth+1, "ECMA array"); reason != "" {
			return reason, detail
		}
		n, reason, detail := w.u32("ECMA array")
		if reason != "" {
			return reason, detail
		}
		if n*minECMAEntry > uint64(w.left()) {
			return ReasonAMFOverflow, fmt.Sprintf("ECMA array declares %d entries, %d bytes left at byte %d", n, w.left(), w.pos)
		}
		return w.properties(depth + 1)
	case markerStrictArray:
		if reason, detail := w.enter(depth+1, "strict array"); reason != "" {
			return reason, detail
		}
		n, reason, detail := w.u32("strict array")
		if reason != "" {
			return reason, detail
		}
		if n > uint64(w.left()) { // each element is at least its marker byte
			return ReasonAMFOverflow, fmt.Sprintf("strict array declares %d elements, %d bytes left at byte %d", n, w.left(), w.pos)
		}
		for ; n > 0; n-- {
			if reason, detail := w.value(depth + 1); reason != "" {
				return reason, detail
			}
		}
		return "", ""
	default:
		// Object end outside an object, the reserved movie clip and record
		// set markers, the AMF3 switch, and anything undefined.
		return ReasonAMFBadMarker, fmt.Sprintf("marker 0x%02x at byte %d", marker, w.pos-1)
	}
}

// properties checks the key/value pairs of an object, typed object or ECMA
// array, up to the empty key and object-end marker, as go-amf0 reads them.
func (w *amfWalker) properties(depth int) (reason, detail string) {
	for {
		n, reason, detail := w.u16("property name")
		if reason != "" {
			return reason, detail
		}
		if n == 0 {
			if w.left() < 1 {
				return w.truncated("object end marker", 1)
			}
			if m := w.b[w.pos]; m != markerObjectEnd {
				return ReasonAMFBadMarker, fmt.Sprintf("empty property name followed by 0x%02x, not object end, at byte %d", m, w.pos)
			}
			w.pos++
			return "", ""
		}
		if reason, detail := w.skip(n, "property name"); reason != "" {
			return reason, detail
		}
		if reason, detail := w.value(depth); reason != "" {
			return reason, detail
		}
	}
}
