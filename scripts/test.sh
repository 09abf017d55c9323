#!/usr/bin/env bash
# Runs every test. Called by `make test` after install-test-deps.sh.
# LIVESTACK_E2E=1 makes the end-to-end tests fail (instead of skip) when a tool
# they need is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export LIVESTACK_E2E=1
go vet ./...
# The browser tests play live streams in real time and judge whether playback
# keeps up: they run on their own, after the rest, not beside packages that
# transcode with ffmpeg on the same cores.
go test -race -count=1 -timeout 20m $(go list ./... | grep -v '/tests/browser$')
go test -race -count=1 -timeout 10m ./tests/browser/
