#!/bin/sh
# File source -> SQLite sink, N users (default 100,000): a first full sync into an empty
# database, then a resync of the unchanged export. Prints users/s, CPU time and peak RSS of each
# run (wall time suffers when other jobs share the machine; CPU time much less).
#
# Then the sqlite sink alone (sink_bench.cpp), SINK_ROWS creates: plain, with the two lookups
# per object a first sync makes, and with random instead of time-ordered ids.
#
#   bench/file_to_sqlite/run.sh [BUILD_DIR] [USERS] [SINK_ROWS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
users=${2:-100000}
sink_rows=${3:-1000000}
dirsync=$build/bin/dirsync
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 "$here/../../pipelines/data/generate_demo.py" --users "$users" --groups 0 --out "$work" --prefix bench
mv "$work/bench-users.csv" "$work/users.csv"
cp "$here/pipeline.yaml" "$work/"
echo "export: $users users, $(du -h "$work/users.csv" | cut -f1) of CSV"

for label in "first sync (all creates)" "resync (no changes)"; do
  /usr/bin/time -v "$dirsync" run "$work/pipeline.yaml" >"$work/out" 2>"$work/time" || {
    cat "$work/out" "$work/time"; exit 1; }
  secs=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time" |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
  cpu=$(sed -n 's/.*\(User\|System\) time (seconds): //p' "$work/time" | awk '{ s += $1 } END { print s }')
  echo "$label: $(grep -o 'created [0-9]*  updated [0-9]*' "$work/out" | head -1); ${secs} s," \
    "$(awk -v n="$users" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') users/s (CPU ${cpu} s)," \
    "peak RSS $((rss / 1024)) MiB"
done
echo "database: $(du -h "$work/assets.db" | cut -f1), state: $(du -h "$work"/*.state.db | cut -f1)"

c++ -std=c++20 -O2 -I"$here/../../framework/include" "$here/sink_bench.cpp" -o "$work/sink_bench" \
  -L"$build/lib" -ldirsync-sdk -Wl,-rpath,"$build/lib" -lboost_filesystem -ldl
for flags in "" --finds --random-ids; do
  rm -f "$work"/sink.db*
  # shellcheck disable=SC2086
  "$work/sink_bench" "$build/lib/dirsync/plugins" "$work/sink.db" "$sink_rows" $flags
done
