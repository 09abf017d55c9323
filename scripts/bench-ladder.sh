#!/usr/bin/env bash
# bench-ladder.sh: cost of the worker's transcode ladder on this machine.
#
# From a 1080p30 H.264/AAC input it runs, as fast as the CPU allows:
#   1. the full ladder (360p, 480p, 720p, 1080p) in ONE ffmpeg, exactly as the
#      worker builds it (decode once, split, aligned GOPs, audio once, tee);
#   2. the same four renditions as FOUR separate ffmpeg processes at once
#      (each decodes the source itself), for comparison.
# For each it reports the realtime factor (media seconds per wall second) and
# CPU seconds (user+sys) per media second. Run it on a quiet machine.
#
# Usage: scripts/bench-ladder.sh [seconds-of-input (default 30)] [preset (default veryfast)]
# Env:   LIVESTACK_BENCH_DIR keeps the generated input between runs (default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-30}
preset=${2:-veryfast}
for bin in ffmpeg go; do
  command -v "$bin" >/dev/null || { echo "bench-ladder: $bin is required" >&2; exit 1; }
done
dir=${LIVESTACK_BENCH_DIR:-$(mktemp -d -t livestack-bench-XXXXXX)}
mkdir -p "$dir"
input="$dir/input-1080p30-${secs}s.flv"
if [[ ! -s $input ]]; then
  echo "making a ${secs}s 1080p30 input (not timed)..." >&2
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$secs" \
    -c:v libx264 -preset veryfast -b:v 4500k -g 60 -keyint_min 60 -sc_threshold 0 \
    -c:a aac -b:a 128k -f flv "$input"
fi
worker="$dir/worker"
go build -o "$worker" ./containers/worker

TIMEFORMAT='%R %U %S'
# measure CMD...: prints "wall user sys" of CMD and its children.
measure() { { time "$@" >/dev/null 2>"$dir/ffmpeg.log"; } 2>&1 | tail -1; }

report() { # name wall user sys
  awk -v name="$1" -v w="$2" -v u="$3" -v s="$4" -v m="$secs" \
    'BEGIN { printf "%-26s realtime x%.2f   CPU %.2f s per media s   (wall %.1f s, user %.1f s, sys %.1f s)\n", name, m/w, (u+s)/m, w, u, s }'
}

out1="$dir/one"; mkdir -p "$out1"
mapfile -t one < <("$worker" ladder-args -input "$input" -out "$out1" -preset "$preset" -fps 30 -height 1080)
read -r w u s < <(measure ffmpeg "${one[@]}")
report "one process (4 outputs)" "$w" "$u" "$s"
cpu_one=$(awk -v u="$u" -v s="$s" 'BEGIN { print u+s }')

four() {
  local pids=() r
  for r in 360p 480p 720p 1080p; do
    mkdir -p "$dir/four/$r"
    mapfile -t a < <("$worker" ladder-args -input "$input" -out "$dir/four/$r" -renditions "$r" -preset "$preset" -fps 30 -height 1080)
    ffmpeg "${a[@]}" >/dev/null 2>>"$dir/ffmpeg.log" &
    pids+=($!)
  done
  wait "${pids[@]}"
}
read -r w u s < <(measure four)
report "four processes" "$w" "$u" "$s"
cpu_four=$(awk -v u="$u" -v s="$s" 'BEGIN { print u+s }')
awk -v a="$cpu_four" -v b="$cpu_one" 'BEGIN { printf "one process is %.2fx cheaper in CPU than four\n", a/b }'
echo "input: $input  preset: $preset  ffmpeg: $(ffmpeg -version | head -1 | cut -d" " -f3)  cores: $(nproc)"
