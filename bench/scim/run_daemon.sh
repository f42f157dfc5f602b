#!/bin/sh
# End to end: `dirsync daemon` serves the SCIM endpoint and applies every accepted change to the
# sqlite sink; scim-bench POSTs N users with 8 clients, then we wait until the sink holds them.
#   bench/scim/run_daemon.sh [BUILD_DIR] [USERS]
set -eu
BUILD=${1:-build}
USERS=${2:-20000}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp "$HERE/pipeline.yaml" "$WORK/"
export SCIM_BENCH_TOKEN=bench-token-0123456789
export SCIM_BENCH_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/bin/dirsync" daemon "$WORK/pipeline.yaml" --log-level warn >"$WORK/log" 2>&1 &
PID=$!
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $SCIM_BENCH_PORT))" 2>/dev/null; do
  kill -0 $PID || { cat "$WORK/log"; exit 1; }
  sleep 0.1
done
START=$(date +%s.%N)
"$BUILD/bin/scim-bench" "http://127.0.0.1:$SCIM_BENCH_PORT/scim/v2" "$SCIM_BENCH_TOKEN" --clients 8 --requests "$USERS"
until [ "$(sqlite3 "$WORK/scim-bench-assets.db" 'select count(*) from users' 2>/dev/null || echo 0)" -ge "$USERS" ]; do
  kill -0 $PID || { cat "$WORK/log"; exit 1; }
  sleep 0.2
done
END=$(date +%s.%N)
TICKS=$(getconf CLK_TCK)
echo "dirsync daemon CPU: $(awk -v t=$TICKS '{printf "%.2f s user, %.2f s system", $14/t, $15/t}' /proc/$PID/stat)"
echo "all $USERS users in the sqlite sink after $(echo "$END - $START" | bc) s ($(echo "$USERS / ($END - $START)" | bc) users/s end to end)"
