#!/usr/bin/env bash
# bench-snapshot.sh: CPU cost of the snapshot path and of motion detection per
# stream, measured on a running standalone.
#
# It starts bin/standalone (built here) with its own data dir, makes a 720p30
# H.264/AAC input with B-frames (x264 defaults, keyframe every 2 s, like OBS),
# and runs three phases with N publishers each (`ffmpeg -re -stream_loop -1
# -c copy`, separate processes, not counted):
#   base       channels with HLS off and nothing else (ingest + hub only)
#   snapshots  the same plus recording.snapshots every SNAP seconds
#   motion     the same plus recording.motion (no motion in the pattern's
#              sense is irrelevant: detection decodes every frame either way)
# For each phase it reads /proc for the standalone and all of its children
# (the snapshot and motion ffmpeg processes), over MEASURE seconds after a
# warm-up, and prints CPU seconds per stream-minute; the snapshot and motion
# figures are also given net of the base phase. Run it on a quiet machine.
#
# Usage: scripts/bench-snapshot.sh [streams (default 4)] [measure seconds (default 60)] [snapshot seconds (default 10)]
# Env:   LIVESTACK_BENCH_DIR keeps the generated input between runs.
#        BENCH_SIZE (default 1280x720), BENCH_WARMUP seconds (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-4}
measure=${2:-60}
snap=${3:-10}
size=${BENCH_SIZE:-1280x720}
warmup=${BENCH_WARMUP:-8}
for bin in ffmpeg go curl; do
  command -v "$bin" >/dev/null || { echo "bench-snapshot: $bin is required" >&2; exit 1; }
done
dir=${LIVESTACK_BENCH_DIR:-$(mktemp -d -t livestack-snapbench-XXXXXX)}
mkdir -p "$dir"
input="$dir/input-$size-30fps.flv"
if [[ ! -s $input ]]; then
  echo "making a 20 s $size input (not timed)..." >&2
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=$size:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 20 \
    -c:v libx264 -preset veryfast -b:v 2500k -g 60 -keyint_min 60 -sc_threshold 0 \
    -c:a aac -b:a 128k -f flv "$input"
fi
go build -o "$dir/standalone" ./containers/standalone

rtmp_port=$((20000 + RANDOM % 10000)); http_port=$((rtmp_port + 1))
token=bench-token-0123456789abcdef
rm -rf "$dir/data"
LIVESTACK_DATA_DIR="$dir/data" LIVESTACK_RTMP_ADDR="127.0.0.1:$rtmp_port" LIVESTACK_HTTP_ADDR="127.0.0.1:$http_port" \
  LIVESTACK_ADMIN_TOKEN=$token LIVESTACK_LOG_LEVEL=warn LIVESTACK_RECONNECT_WINDOW=1s \
  "$dir/standalone" >"$dir/standalone.out" 2>"$dir/standalone.log" &
server=$!
pubs=()
cleanup() {
  for p in "${pubs[@]}"; do kill "$p" 2>/dev/null || true; done
  kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
api=http://127.0.0.1:$http_port/api/v1
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.2; done

hz=$(getconf CLK_TCK)
# cpu_ticks: utime+stime+cutime+cstime of the standalone plus utime+stime of
# its live children (reaped children are in cutime/cstime).
cpu_ticks() {
  local total=0 pid stat
  stat=$(cut -d')' -f2- "/proc/$server/stat")
  total=$(awk '{ print $12 + $13 + $14 + $15 }' <<<"$stat")
  for pid in $(pgrep -P "$server" || true); do
    if stat=$(cut -d')' -f2- "/proc/$pid/stat" 2>/dev/null); then
      total=$((total + $(awk '{ print $12 + $13 }' <<<"$stat")))
    fi
  done
  echo "$total"
}

declare -A result
phase() { # name recording-json
  local name=$1 rec=$2 i id push
  pubs=()
  for i in $(seq "$n"); do
    id="bench-$name-$i"
    curl -fs -H "Authorization: Bearer $token" -d "{\"id\":\"$id\",\"outputs\":{\"hls\":false},\"recording\":$rec}" "$api/channels" >/dev/null
    push=$(curl -fs -H "Authorization: Bearer $token" "$api/channels/$id/urls" | sed -n 's/.*"push":"\([^"]*\)".*/\1/p')
    ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$input" -c copy -f flv "$push" </dev/null >/dev/null 2>>"$dir/publishers.log" &
    pubs+=($!)
  done
  sleep "$warmup"
  local t0 t1
  t0=$(cpu_ticks)
  sleep "$measure"
  t1=$(cpu_ticks)
  for p in "${pubs[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${pubs[@]}" 2>/dev/null || true
  sleep 3 # streams end after the 1 s reconnect window; children exit
  result[$name]=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$n" -v m="$measure" 'BEGIN { printf "%.3f", d / hz / n / (m / 60) }')
  printf "%-10s %d streams x %d s: %s CPU s per stream-minute\n" "$name" "$n" "$measure" "${result[$name]}"
}

phase base '{}'
phase snapshots "{\"snapshots\":true,\"snapshotSeconds\":$snap}"
phase motion '{"motion":{"enabled":true,"percent":30,"diff":10}}'
awk -v b="${result[base]}" -v s="${result[snapshots]}" -v m="${result[motion]}" -v snap="$snap" 'BEGIN {
  printf "snapshot path (every %d s): %.3f CPU s per stream-minute net of base\n", snap, s - b
  printf "motion detection:          %.3f CPU s per stream-minute net of base\n", m - b
}'
snaps=$(curl -fs "http://127.0.0.1:$http_port/metrics" | awk '/^livestack_snapshots_taken_total/ { print $2 }')
fails=$(curl -fs "http://127.0.0.1:$http_port/metrics" | awk '/^livestack_snapshots_failed_total/ { s += $2 } END { print s + 0 }')
echo "snapshots taken: $snaps, failed: $fails; input: $size 30 fps (B-frames, GOP 2 s); ffmpeg $(ffmpeg -version | head -1 | cut -d' ' -f3); cores: $(nproc)"
