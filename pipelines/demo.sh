#!/bin/sh
# The README demo: dirsync-sim plays a Microsoft Graph tenant with 10,000
# generated users and 50 groups (guests, disabled accounts, nested groups);
# dirsync syncs it into SQLite with pipelines/entra-to-sqlite.yaml, then runs
# again — a delta with nothing to write — and prints the sync log.
#
#   pipelines/demo.sh [BUILD_DIR]        (default: build)
# Results stay in BUILD_DIR/demo/ (entra-assets.db, the state store).
set -eu
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
OUT="$BUILD/demo"
rm -rf "$OUT" && mkdir -p "$OUT"
cp "$HERE/entra-to-sqlite.yaml" "$OUT/"

"$BUILD/bin/dirsync-sim" --port 0 --graph-users 10000 --graph-groups 50 --seed 1 > "$OUT/sim.out" 2> "$OUT/sim.err" &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
# The simulator prints its address once it listens.
while ! grep -q '^listening on ' "$OUT/sim.out" 2>/dev/null; do
  kill -0 $SIM 2>/dev/null || { cat "$OUT/sim.err" >&2; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/^listening on //p' "$OUT/sim.out" | head -n 1)

export ENTRA_TENANT_ID=contoso ENTRA_CLIENT_ID=sim-client ENTRA_CLIENT_SECRET=sim-secret
export ENTRA_AUTHORITY="$URL" ENTRA_GRAPH_URL="$URL"
export DIRSYNC_PLUGIN_PATH="$BUILD/lib/dirsync/plugins"
DIRSYNC="$BUILD/bin/dirsync"

echo "== simulated tenant at $URL: 10,000 users, 50 groups"
"$DIRSYNC" validate "$OUT/entra-to-sqlite.yaml"
echo "== first run: a full read"
"$DIRSYNC" run "$OUT/entra-to-sqlite.yaml"
echo "== second run: a delta, nothing changed"
"$DIRSYNC" run "$OUT/entra-to-sqlite.yaml"
echo "== the sync log"
"$DIRSYNC" runs "$OUT/entra-to-sqlite.yaml"
echo "== result: $OUT/entra-assets.db"
sqlite3 -header -column "$OUT/entra-assets.db" \
  "SELECT count(*) AS users, sum(_disabled) AS disabled FROM users;" 2>/dev/null || true
