#!/usr/bin/env bash
# Builds the standalone binary and runs the HTTP-FLV load harness against it on
# free 127.0.0.1 ports. Arguments go to the harness, for example:
#   scripts/loadtest.sh -sweep 100,500,1000 -duration 20s
#   scripts/loadtest.sh -merge-window 0 -sweep 100
# The input stream (720p30 2.5 Mbit/s + AAC 128k) is generated once with ffmpeg.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -trimpath -o bin/standalone ./containers/standalone
exec go run ./scripts/loadtest -server-bin bin/standalone "$@"
