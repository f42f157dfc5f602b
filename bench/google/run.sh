#!/bin/sh
# End-to-end Google benchmark: dirsync-sim serves N generated Workspace users
# and 50 groups; `dirsync run` on pipelines/google-to-sqlite.yaml syncs them
# into SQLite (full read), again with no change (full read, nothing written),
# then after 1% of the users changed (full read, 1% written).
# Prints wall time, CPU time, objects/s and peak RSS of each `dirsync` run.
#
#   bench/google/run.sh [BUILD_DIR] [USERS]      (defaults: build, 200000)
set -eu
BUILD=$(cd "${1:-build}" && pwd)
USERS=${2:-200000}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KEY="$ROOT/tests/simulators/google/test-only-service-account.json"
WORK=$(mktemp -d /tmp/dirsync-google-bench.XXXXXX)
trap 'kill $SIM 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BUILD/bin/dirsync-sim" --port 0 --graph-users 0 --graph-groups 0 --google-users "$USERS" --google-groups 50 \
  --seed 1 --google-service-account "$KEY" > "$WORK/sim.out" &
SIM=$!
while ! grep -q '^google:' "$WORK/sim.out" 2>/dev/null; do
  kill -0 $SIM || { echo "dirsync-sim failed" >&2; exit 1; }
  sleep 0.2
done
URL=$(head -n 1 "$WORK/sim.out" | sed 's/^listening on //')
sed "s|\${file:../tests/simulators/google/test-only-service-account.json}|\${file:$KEY}|" \
  "$ROOT/pipelines/google-to-sqlite.yaml" > "$WORK/google-to-sqlite.yaml"
export GOOGLE_API_URL="$URL" GOOGLE_TOKEN_URL="$URL/token"
export DIRSYNC_PLUGIN_PATH="$BUILD/lib/dirsync/plugins"

measure() {
  label=$1
  shift
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$BUILD/bin/dirsync" "$@" "$WORK/google-to-sqlite.yaml" \
    > "$WORK/out" 2> "$WORK/err" || { cat "$WORK/out" "$WORK/err" >&2; exit 1; }
  read -r secs user sys kb < "$WORK/time"
  processed=$(sed -n 's/^ *processed \([0-9]*\).*/\1/p' "$WORK/out")
  counts=$(sed -n 's/^ *processed [0-9]* *//p' "$WORK/out")
  echo "$label: ${secs} s wall, $(awk "BEGIN{print $user+$sys}") s CPU, processed ${processed}," \
    "$(awk "BEGIN{printf \"%.0f\", $processed/$secs}") objects/s, peak RSS $((kb / 1024)) MiB ($counts)"
}

echo "users: $USERS, groups: 50, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $(date -u +%Y-%m-%d)"
measure "full sync" run
measure "no-change resync" run
curl -s -X POST -H 'Content-Type: application/json' "$URL/_admin/google/touch" \
  -d '{"every":100,"title":"Benchmark"}' > /dev/null
measure "1% change resync" run
