#!/bin/sh
# End-to-end Entra benchmark: dirsync-sim serves N generated users and 50
# groups; `dirsync run` syncs them into SQLite (full), then again with no
# change (delta), then after 1% of the users changed (delta).
# Prints wall time, objects/s and peak RSS of each `dirsync` run.
#
#   bench/entra/run.sh [BUILD_DIR] [USERS]      (defaults: build, 1000000)
set -eu
BUILD=$(cd "${1:-build}" && pwd)
USERS=${2:-1000000}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/dirsync-entra-bench.XXXXXX)
trap 'kill $SIM 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BUILD/bin/dirsync-sim" --port 0 --graph-users "$USERS" --graph-groups 50 --seed 1 > "$WORK/sim.out" &
SIM=$!
while ! grep -q '^graph:' "$WORK/sim.out" 2>/dev/null; do
  kill -0 $SIM || { echo "dirsync-sim failed" >&2; exit 1; }
  sleep 0.2
done
URL=$(head -n 1 "$WORK/sim.out" | sed 's/^listening on //')
cp "$HERE/../../pipelines/entra-to-sqlite.yaml" "$WORK/"
export ENTRA_TENANT_ID=contoso ENTRA_CLIENT_ID=sim-client ENTRA_CLIENT_SECRET=sim-secret
export ENTRA_AUTHORITY="$URL" ENTRA_GRAPH_URL="$URL"
export DIRSYNC_PLUGIN_PATH="$BUILD/lib/dirsync/plugins"

measure() {
  label=$1
  shift
  /usr/bin/time -f '%e %M %U %S' -o "$WORK/time" "$BUILD/bin/dirsync" "$@" "$WORK/entra-to-sqlite.yaml" \
    > "$WORK/out" 2> "$WORK/err" || { cat "$WORK/out" "$WORK/err" >&2; exit 1; }
  read -r secs kb user sys < "$WORK/time"
  processed=$(sed -n 's/^ *processed \([0-9]*\).*/\1/p' "$WORK/out")
  cpu=$(awk "BEGIN{print $user + $sys}")
  echo "$label: ${secs} s wall, processed ${processed}, $(awk "BEGIN{printf \"%.0f\", $processed/$secs}") objects/s;" \
    "cpu ${cpu} s, $(awk "BEGIN{printf \"%.0f\", $processed/($cpu > 0 ? $cpu : 1)}") objects/cpu-s; peak RSS $((kb / 1024)) MB"
}

echo "users: $USERS, groups: 50, $(nproc) cores, $(date -u +%Y-%m-%d)"
measure "full sync" run
measure "no-change delta" run
python3 -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_admin/graph/touch", method="POST",
    data=b"{\"every\":100,\"property\":\"jobTitle\",\"value\":\"Benchmark\"}")).read()' "$URL"
measure "1% change delta" run
