package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

// tcpBacklog is, per publisher connection to the server's RTMP port (keyed by
// the publisher's local port), the bytes sent that the server has not read
// yet: the client socket's send queue plus the server socket's receive queue,
// both from /proc/net/tcp. On loopback nothing else holds them, so this is
// exactly how far the server's reading of that publisher is behind what the
// publisher wrote. A server that keeps up reads every tag as it arrives and
// the backlog stays near 0; one that falls behind lets it grow until the
// socket buffers are full and the publisher's writes block.
type tcpBacklog map[uint16]int64

// readTCPBacklog reads /proc/net/tcp for connections to port on 127.0.0.1.
func readTCPBacklog(port uint16) (tcpBacklog, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseTCPBacklog(f, port)
}

// parseTCPBacklog reads /proc/net/tcp lines:
//
//	sl  local_address rem_address   st tx_queue:rx_queue ...
//	 0: 0100007F:0787 0100007F:D2F4 01 00000000:00000000 ...
//
// Addresses are hex IPv4 (in host byte order) and port. Only ESTABLISHED
// (01) connections between the server's port and another port count.
func parseTCPBacklog(r io.Reader, port uint16) (tcpBacklog, error) {
	out := tcpBacklog{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := bytes.Fields(sc.Bytes())
		if len(f) < 5 {
			continue
		}
		if string(f[3]) != "01" {
			continue
		}
		lp, err1 := portOf(f[1])
		rp, err2 := portOf(f[2])
		tx, rx, err3 := queuesOf(f[4])
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("/proc/net/tcp: bad line %q", sc.Text())
		}
		switch {
		case lp == port && rp != port: // the server's side: what it has not read
			out[rp] += rx
		case rp == port && lp != port: // the publisher's side: what has not left
			out[lp] += tx
		}
	}
	return out, sc.Err()
}

// portOf reads the port of "0100007F:0787".
func portOf(b []byte) (uint16, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return 0, fmt.Errorf("address %q without port", b)
	}
	p, err := strconv.ParseUint(string(b[i+1:]), 16, 16)
	return uint16(p), err
}

// queuesOf reads "tx_queue:rx_queue" in hex.
func queuesOf(b []byte) (tx, rx int64, err error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return 0, 0, fmt.Errorf("queues %q", b)
	}
	t, err1 := strconv.ParseUint(string(b[:i]), 16, 32)
	r, err2 := strconv.ParseUint(string(b[i+1:]), 16, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("queues %q", b)
	}
	return int64(t), int64(r), nil
}
