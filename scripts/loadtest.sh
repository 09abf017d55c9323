#!/usr/bin/env bash
# Load and latency harness against a freshly built standalone server, all on
# this machine over 127.0.0.1. Three modes (-mode): viewers (HTTP-FLV fan-out,
# the default), latency (publish -> first HLS playlist / first LL-HLS part,
# LL-HLS live-edge delay) and publishers (many 1 Mbit/s publishers with FLV +
# HLS, optionally recording). The harness (scripts/loadtest) starts the server on
# free loopback ports with a temporary data dir and a random admin token
# (LIVESTACK_ADMIN_TOKEN), creates the channel "load" through the API, publishes
# the input over RTMP, runs the viewers, and stops the server at the end (also
# on Ctrl-C; the server gets SIGKILL if the harness itself dies).
#
# The input (720p30 H.264 CBR 2.5 Mbit/s, keyframe every 2 s, AAC 128 kbit/s
# 44.1 kHz stereo, 30 s) is encoded once with ffmpeg into
# ~/.cache/livestack/loadtest-720p30-2500k-30s.flv.
#
# The publishers mode uses a camera-like input instead (720p30 H.264 CBR
# 900 kbit/s + AAC 96 kbit/s, about 1 Mbit/s of FLV), cached the same way.
# Its publishers connect one by one (shared/rtmpclient), then a few scheduler
# goroutines (GOMAXPROCS) send for all of them: each video frame with the
# audio due by then, pre-chunked, in one write per publisher, so the harness
# stays far below the server's CPU at 1,200-1,600 publishers.
#
# Commands (arguments go to the harness; `go run ./scripts/loadtest -h` lists them):
#   scripts/loadtest.sh -viewers 100 -duration 20s                 # one step
#   scripts/loadtest.sh -viewers 100 -merge-window 0               # every frame written at once
#   scripts/loadtest.sh -viewers 500 -duration 30s -json           # figures for docs/performance.md
#   scripts/loadtest.sh -sweep 500,1000,2000,3000,4000,5000 -json  # highest healthy viewer count
#   scripts/loadtest.sh -mode latency -runs 20 -json                # docs/performance.md, HLS and LL-HLS latency
#   scripts/loadtest.sh -mode publishers -publishers 50 -duration 20s
#   scripts/loadtest.sh -mode publishers -sweep 200,400,800,1200,1600 -keep-going -json -server-args "--max-publishers 5000"
#   scripts/loadtest.sh -mode publishers -record mp4 -sweep 200,400,800,1200 -json
# Keep the server's log with -server-log FILE; profile it with
#   -server-args "--debug-addr 127.0.0.1:6060"
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ffmpeg >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  echo "loadtest.sh: installing ffmpeg (needed once to encode the input)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >/dev/null
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/livestack-loadtest.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true # the harness stops its server
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$tmp/standalone" ./containers/standalone
go build -o "$tmp/loadtest" ./scripts/loadtest
"$tmp/loadtest" -make-input "$@" >/dev/null # the input of the mode

"$tmp/loadtest" -server-bin "$tmp/standalone" "$@" &
pid=$!
wait "$pid"
