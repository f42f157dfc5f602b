#!/bin/sh
# SCIM endpoint benchmark: POST /Users with 8 concurrent keep-alive clients
# over loopback, then filter lookups over 100,000 users.
#   bench/scim/run.sh [BUILD_DIR] [synchronous: full|normal] [--no-read]
# The server is scim-serve (the plugin hosted as `dirsync serve` will host it);
# without --no-read it also answers every commit with an incremental read()
# of the new events, as the host does.
set -eu
BUILD=${1:-build}
SYNC=${2:-full}
NOREAD=${3:-}
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
TOKEN=bench-token-0123456789
printf '{"listen":"127.0.0.1:0","tokens":["%s"],"store":"scim.db","synchronous":"%s"}' "$TOKEN" "$SYNC" >"$WORK/s.json"
"$BUILD/bin/scim-serve" "$BUILD/lib/dirsync/plugins/dirsync-scim.so" "$WORK/s.json" "$WORK" $NOREAD >"$WORK/log" 2>&1 &
PID=$!
while ! grep -q "listening on" "$WORK/log"; do
  kill -0 $PID || { cat "$WORK/log"; exit 1; }
  sleep 0.1
done
URL=$(grep -o 'http://[^ ]*' "$WORK/log" | head -1)
echo "synchronous=$SYNC ${NOREAD:-with host reads}"
"$BUILD/bin/scim-bench" "$URL" "$TOKEN" --clients 8 --requests 20000 --prefix a
TICKS=$(getconf CLK_TCK)
echo "server CPU for those 20,000: $(awk -v t=$TICKS '{printf "%.2f s user, %.2f s system", $14/t, $15/t}' /proc/$PID/stat)"
"$BUILD/bin/scim-bench" "$URL" "$TOKEN" --clients 8 --requests 100000 --prefix u --lookups 2000
