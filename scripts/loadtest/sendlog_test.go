package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSendLog(t *testing.T) {
	var l sendLog
	_, ok := l.Get(0)
	require.False(t, ok, "empty")
	l.Put(33, 1000)
	l.Put(67, 2000)
	tests := []struct {
		ts   uint32
		want int64
		ok   bool
	}{
		{33, 1000, true},
		{67, 2000, true},
		{100, 0, false},
		{33 + sendLogSize, 0, false}, // same slot, another timestamp
	}
	for _, tt := range tests {
		got, ok := l.Get(tt.ts)
		require.Equal(t, tt.ok, ok, "ts %d", tt.ts)
		require.Equal(t, tt.want, got, "ts %d", tt.ts)
	}
	l.Put(33+sendLogSize, 3000) // 65 s later the slot is reused
	_, ok = l.Get(33)
	require.False(t, ok)
	got, ok := l.Get(33 + sendLogSize)
	require.True(t, ok)
	require.Equal(t, int64(3000), got)
}
