package main

import (
	"sync/atomic"
	"time"
)

// epoch is the origin of the harness's monotonic clock; publisher and viewers
// share it, so a delay is a plain subtraction.
var epoch = time.Now()

// nanotime is the monotonic time since epoch.
func nanotime() int64 { return int64(time.Since(epoch)) }

// sendLog maps the timestamp of each video frame the publisher sent to the
// moment it sent it. Timestamps are milliseconds and frames are at least a
// few apart, so a ring indexed by the low 16 bits holds the last 65 s; each
// slot keeps the full timestamp to tell a stale entry from a match. One
// writer (the publisher), any number of readers (the viewers), no locks.
type sendLog struct {
	ts   [sendLogSize]atomic.Uint32
	sent [sendLogSize]atomic.Int64 // nanotime; 0 = empty
}

const sendLogSize = 1 << 16

// Put records that the frame with timestamp ts was sent at nanotime at.
func (l *sendLog) Put(ts uint32, at int64) {
	i := ts & (sendLogSize - 1)
	l.sent[i].Store(0) // invalidate while the slot changes
	l.ts[i].Store(ts)
	l.sent[i].Store(at)
}

// Get returns when the frame with timestamp ts was sent.
func (l *sendLog) Get(ts uint32) (int64, bool) {
	i := ts & (sendLogSize - 1)
	if l.ts[i].Load() != ts {
		return 0, false
	}
	// Loaded after ts: either 0 (Put in progress) or this frame's time, unless
	// a later Put took the slot, which the second ts load catches.
	at := l.sent[i].Load()
	if at == 0 || l.ts[i].Load() != ts {
		return 0, false
	}
	return at, true
}
