#!/usr/bin/env bash
# Runs every test. Called by `make test` after install-test-deps.sh.
# LIVESTACK_E2E=1 makes the end-to-end tests fail (instead of skip) when a tool
# they need is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export LIVESTACK_E2E=1
go vet ./...
go test -race -count=1 -timeout 20m ./...
