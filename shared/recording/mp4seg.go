package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livestack/livestack/shared/media/flv"
	"github.com/livestack/livestack/shared/media/hub"
)

// Track ids and time scales of the recorded MP4 files.
const (
	videoTrackID   = 1
	audioTrackID   = 2
	videoTimeScale = 90000
	// audioOnlyAfter is how much audio (ms) is seen without a video
	// configuration before a stream is recorded as audio-only.
	audioOnlyAfter = 1000
)

// segmentSink receives the MP4 segmenter's output.
type segmentSink interface {
	// openFile starts file number seq and returns the journal path to write.
	openFile() (path string, err error)
	// fileClosed reports a complete journal (the file was cut or the stream
	// ended) and its index (journalIndex; nil: finishing reads the journal).
	fileClosed(path string, bytes int64, idx *journalIndex) error
}

// mp4Segmenter turns hub packets into journal files cut on keyframes: H.264
// video and AAC audio, remuxed without decoding. Other codecs are skipped
// (counted in Skipped). It is used by one goroutine.
type mp4Segmenter struct {
	sink      segmentSink
	target    int64 // ms per file
	fragment  int64 // ms per journal fragment
	maxBytes  int64
	audioOnly bool
	gs        *groupSync // nil: fsync each journal write

	// codec configuration
	avc    *flv.AVCConfig
	avcRaw []byte
	asc    *mpeg4audio.AudioSpecificConfig
	ascRaw []byte
	// cut: the configuration changed; the next file starts at the next sync point.
	cut bool

	// open file
	j        *journal
	path     string
	hasAudio bool
	segStart int64 // ms (hub time) of the file's first leading sample
	fragFrom int64 // ms of the first sample of the pending fragment
	video    trackBuf
	audio    trackBuf
	// audio timing in samples; audioPos is the held sample's position.
	audioPos  int64
	lastVDur  int64 // last video sample duration, ticks
	firstAAt  int64 // ms of the first audio seen without video config
	seenAudio bool

	Skipped int64
}

// trackBuf holds one track's samples of the pending fragment plus the last
// sample, whose duration is known only when the next one arrives.
type trackBuf struct {
	baseTime uint64 // ticks of samples[0] (or of held when samples is empty)
	samples  []*fmp4.Sample
	held     *fmp4.Sample
	heldAt   int64 // ticks of held
}

func newMP4Segmenter(sink segmentSink, targetMS, fragmentMS, maxBytes int64) *mp4Segmenter {
	return &mp4Segmenter{sink: sink, target: targetMS, fragment: fragmentMS, maxBytes: maxBytes}
}

func (m *mp4Segmenter) open() bool { return m.j != nil }

// writePacket feeds one hub packet.
func (m *mp4Segmenter) writePacket(p *hub.Packet) error {
	data := p.Data()
	switch p.Type {
	case flv.TagVideo:
		v, err := flv.ParseVideo(data)
		if err != nil {
			m.Skipped++
			return nil
		}
		if v.Codec != "h264" {
			m.Skipped++
			return nil
		}
		switch v.PacketType {
		case flv.VideoSequenceHeader:
			if m.avcRaw != nil && bytes.Equal(m.avcRaw, v.Payload) {
				return nil
			}
			c, err := flv.ParseAVCConfig(v.Payload)
			if err != nil || len(c.SPS) == 0 || len(c.PPS) == 0 {
				m.Skipped++
				return nil
			}
			changed := m.avc != nil || m.audioOnly
			m.avc, m.avcRaw = &c, bytes.Clone(v.Payload)
			m.audioOnly = false
			if changed || m.open() {
				return m.configChanged()
			}
			return nil
		case flv.VideoFrames:
			if m.avc == nil || len(v.Payload) == 0 || m.audioOnly {
				return nil
			}
			au := v.Payload
			if m.avc.NALULengthSize != 4 {
				if au, err = relength(au, m.avc.NALULengthSize); err != nil {
					m.Skipped++
					return nil
				}
			}
			return m.writeVideo(int64(p.Time), int64(v.CompositionTime), v.Keyframe, au)
		}
	case flv.TagAudio:
		a, err := flv.ParseAudio(data)
		if err != nil || a.Codec != "aac" {
			m.Skipped++
			return nil
		}
		if a.PacketType == flv.AudioSequenceHeader {
			if m.ascRaw != nil && bytes.Equal(m.ascRaw, a.Payload) {
				return nil
			}
			var c mpeg4audio.AudioSpecificConfig
			if err := c.Unmarshal(a.Payload); err != nil {
				m.Skipped++
				return nil
			}
			changed := m.asc != nil
			m.asc, m.ascRaw = &c, bytes.Clone(a.Payload)
			if changed {
				return m.configChanged()
			}
			return nil
		}
		if m.asc == nil || len(a.Payload) == 0 {
			return nil
		}
		return m.writeAudio(int64(p.Time), a.Payload)
	}
	return nil
}

// configChanged ends the open file: an MP4 file has one configuration per track.
func (m *mp4Segmenter) configChanged() error {
	m.cut = true
	if m.open() {
		return m.closeFile(-1)
	}
	return nil
}

func (m *mp4Segmenter) writeVideo(dts, cts int64, key bool, au []byte) error {
	if m.open() && m.video.held != nil && dts <= m.video.heldAt/90 {
		dts = m.video.heldAt/90 + 1 // keep DTS strictly increasing
	}
	if key && (!m.open() || m.cut || dts-m.segStart >= m.target || m.j.bytes >= m.maxBytes) {
		if m.open() {
			if err := m.closeFile(dts * 90); err != nil {
				return err
			}
		}
		if err := m.openFile(dts, true); err != nil {
			return err
		}
	}
	if !m.open() {
		return nil
	}
	ticks := dts * 90
	if h := m.video.held; h != nil {
		d := ticks - m.video.heldAt
		h.Duration = uint32(max(d, 1))
		m.lastVDur = int64(h.Duration)
		m.video.push(h)
	}
	m.video.hold(&fmp4.Sample{PTSOffset: int32(cts * 90), IsNonSyncSample: !key, Payload: au}, ticks)
	return m.maybeFlush(dts)
}

func (m *mp4Segmenter) writeAudio(ts int64, frame []byte) error {
	rate := int64(m.asc.SampleRate)
	if rate <= 0 {
		return nil
	}
	frameTicks := int64(1024)
	if m.asc.FrameLengthFlag {
		frameTicks = 960
	}
	if m.avc == nil && !m.open() {
		// no video configuration (yet): record audio-only after a moment
		if !m.seenAudio {
			m.seenAudio, m.firstAAt = true, ts
		}
		if ts-m.firstAAt < audioOnlyAfter {
			return nil
		}
		m.audioOnly = true
	}
	if m.audioOnly && (!m.open() || m.cut || ts-m.segStart >= m.target || m.j.bytes >= m.maxBytes) {
		if m.open() {
			if err := m.closeFile(-1); err != nil {
				return err
			}
		}
		if err := m.openFile(ts, false); err != nil {
			return err
		}
	}
	if !m.open() || !m.hasAudio {
		return nil
	}
	actual := ts * rate / 1000
	pos := actual
	if h := m.audio.held; h != nil {
		expected := m.audioPos + frameTicks
		pos = expected
		if d := actual - expected; d > 2*frameTicks || d < -2*frameTicks {
			pos = max(actual, m.audioPos+1) // a gap or a jump: follow the timestamps
		}
		h.Duration = uint32(pos - m.audioPos)
		m.audio.push(h)
	}
	m.audioPos = pos
	m.audio.hold(&fmp4.Sample{Payload: frame}, pos)
	if m.audioOnly {
		return m.maybeFlush(ts)
	}
	return nil
}

func (t *trackBuf) hold(s *fmp4.Sample, at int64) {
	if t.held == nil && len(t.samples) == 0 {
		t.baseTime = uint64(at)
	}
	t.held, t.heldAt = s, at
}

func (t *trackBuf) push(s *fmp4.Sample) {
	t.samples = append(t.samples, s)
	t.held = nil
}

func (t *trackBuf) take(id int) *fmp4.PartTrack {
	if len(t.samples) == 0 {
		return nil
	}
	pt := &fmp4.PartTrack{ID: id, BaseTime: t.baseTime, Samples: t.samples}
	var sum uint64
	for _, s := range t.samples {
		sum += uint64(s.Duration)
	}
	t.baseTime += sum
	t.samples = nil
	return pt
}

// maybeFlush writes a fragment once the pending samples span the fragment duration.
func (m *mp4Segmenter) maybeFlush(now int64) error {
	if now-m.fragFrom < m.fragment {
		return nil
	}
	m.fragFrom = now
	return m.flush()
}

func (m *mp4Segmenter) flush() error {
	var tracks []*fmp4.PartTrack
	if pt := m.video.take(videoTrackID); pt != nil {
		tracks = append(tracks, pt)
	}
	if pt := m.audio.take(audioTrackID); pt != nil {
		tracks = append(tracks, pt)
	}
	if len(tracks) == 0 {
		return nil
	}
	return m.j.writePart(tracks)
}

func (m *mp4Segmenter) openFile(startMS int64, video bool) error {
	init := &fmp4.Init{}
	if video {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: videoTrackID, TimeScale: videoTimeScale,
			Codec: &codecs.H264{SPS: m.avc.SPS[0], PPS: m.avc.PPS[0]}})
	}
	m.hasAudio = m.asc != nil
	if m.hasAudio {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: audioTrackID, TimeScale: uint32(m.asc.SampleRate),
			Codec: &codecs.MPEG4Audio{Config: *m.asc}})
	}
	path, err := m.sink.openFile()
	if err != nil {
		return err
	}
	j, err := createJournal(path, init, m.gs)
	if err != nil {
		return err
	}
	m.j, m.path = j, path
	m.segStart, m.fragFrom, m.cut = startMS, startMS, false
	m.video, m.audio = trackBuf{}, trackBuf{}
	return nil
}

// closeFile completes the open file. nextVideo is the tick of the video sample
// that follows (the keyframe starting the next file), or -1 when unknown.
func (m *mp4Segmenter) closeFile(nextVideo int64) error {
	if h := m.video.held; h != nil {
		d := m.lastVDur
		if nextVideo > m.video.heldAt {
			d = nextVideo - m.video.heldAt
		}
		h.Duration = uint32(max(d, 1))
		m.video.push(h)
	}
	if h := m.audio.held; h != nil {
		h.Duration = 1024
		if m.asc != nil && m.asc.FrameLengthFlag {
			h.Duration = 960
		}
		m.audio.push(h)
	}
	err := m.flush()
	j, path := m.j, m.path
	m.j = nil
	if cerr := j.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return m.sink.fileClosed(path, j.bytes, j.idx)
}

// abort closes the open file as it is after a write error or a gap in the
// input: the journal keeps its complete fragments, and the next file starts
// at the next sync point.
func (m *mp4Segmenter) abort() {
	m.cut = true
	if !m.open() {
		return
	}
	j, path := m.j, m.path
	m.j = nil
	_ = j.close()
	_ = m.sink.fileClosed(path, j.bytes, j.idx)
}

// cutNow closes the open file with everything received so far (the input
// skipped media); the next file starts at the next sync point.
func (m *mp4Segmenter) cutNow() error {
	m.cut = true
	if !m.open() {
		return nil
	}
	return m.closeFile(-1)
}

// finish closes the open file at the end of the stream.
func (m *mp4Segmenter) finish() error {
	if !m.open() {
		return nil
	}
	return m.closeFile(-1)
}

// relength rewrites an AVCC access unit with n-byte NAL unit lengths to
// 4-byte lengths, which is what the MP4 sample entry (avcC) written by
// mediacommon declares. Hand-written: mediacommon's AVCC parser only reads
// 4-byte lengths, and encoders with 1- or 2-byte lengths are rare but legal.
func relength(au []byte, n int) ([]byte, error) {
	if n < 1 || n > 4 {
		return nil, fmt.Errorf("NAL unit length size %d", n)
	}
	out := make([]byte, 0, len(au)+16)
	for len(au) > 0 {
		if len(au) < n {
			return nil, errors.New("truncated NAL unit length")
		}
		var l int
		for i := range n {
			l = l<<8 | int(au[i])
		}
		au = au[n:]
		if l > len(au) {
			return nil, errors.New("NAL unit longer than the access unit")
		}
		out = binary.BigEndian.AppendUint32(out, uint32(l))
		out = append(out, au[:l]...)
		au = au[l:]
	}
	return out, nil
}
