#!/usr/bin/env bash
# make bench — runs every benchmark script in bench/ (bench/*.lua with bin/lctw). Results are
# recorded by hand in bench/RESULTS.md with the date, machine and command.
set -u
cd "$(dirname "$0")/.."
LCTW=${LCTW:-bin/lctw}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
for b in bench/*.lua; do
  [ -f "$b" ] || continue
  echo "== $b"
  "$LCTW" "$b" || echo "bench $b failed"
done
