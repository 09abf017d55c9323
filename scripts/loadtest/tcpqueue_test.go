package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseTCPBacklog(t *testing.T) {
	// Server on port 0x8D93 (36243): two publishers (ports 0xD2F4, 0xD2F6),
	// a listening socket, a connection elsewhere, and a closing one.
	const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:8D93 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:8D93 0100007F:D2F4 01 00000000:00001000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D2F4 0100007F:8D93 01 00000200:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:8D93 0100007F:D2F6 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:D2F6 0100007F:8D93 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 20 4 30 10 -1
   5: 0100007F:1F90 0100007F:D300 01 00FFFFFF:00FFFFFF 00:00000000 00000000     0        0 6 1 0000000000000000 20 4 30 10 -1
   6: 0100007F:8D93 0100007F:D2F8 06 00000000:00000100 00:00000000 00000000     0        0 7 1 0000000000000000 20 4 30 10 -1
`
	b, err := parseTCPBacklog(strings.NewReader(procNetTCP), 0x8D93)
	require.NoError(t, err)
	require.Equal(t, tcpBacklog{0xD2F4: 0x1000 + 0x200, 0xD2F6: 0}, b)

	_, err = parseTCPBacklog(strings.NewReader("header\n 1: 0100007F:XYZ 0100007F:8D93 01 0:0\n"), 0x8D93)
	require.Error(t, err)
}

func TestReadTCPBacklogLive(t *testing.T) {
	// On any Linux machine /proc/net/tcp parses; port 1 has no connections.
	b, err := readTCPBacklog(1)
	require.NoError(t, err)
	require.Empty(t, b)
}

func TestPortOfAddr(t *testing.T) {
	for in, want := range map[string]uint16{"127.0.0.1:54321": 54321, "[::1]:80": 80, "nope": 0, "1.2.3.4:x": 0} {
		require.Equal(t, want, portOfAddr(in), in)
	}
}
