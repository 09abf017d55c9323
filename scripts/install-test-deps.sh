#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: ffmpeg/ffprobe
# (media tests), Chromium (console and player tests), and the npm packages the
# browser and emulator tests use. Idempotent: it skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
[ -x /usr/bin/chromium ] || need_apt+=(chromium) # tests/browser: hls.js in headless Chromium
command -v zip >/dev/null 2>&1 || need_apt+=(zip) # make lambdas and its test
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "install-test-deps: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
ffmpeg -hide_banner -version | head -1

# Emulators the Go tests start (dynalite for shared/store/dynamostore).
if command -v npm >/dev/null 2>&1; then
  (cd scripts/emulators && npm ci --no-audit --no-fund --loglevel=error)
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) # playwright-core, hls.js
else
  echo "install-test-deps: npm not found; the DynamoDB store tests will skip (fail with LIVESTACK_E2E=1)"
fi
