#!/bin/sh
# REST sink benchmark: N users (default 50,000) from a generated CSV export pushed by
# `dirsync run` through the rest sink's generic profile, one POST per user, to
# rest-bench-server on loopback (a Poco thread-pool server answering 201 with an id, so that
# the endpoint is not what is measured). Runs at sink concurrency 1 and 8, each into a fresh
# state store and a fresh server, and prints requests/s (requests the server counted over the
# wall time of `dirsync run`), dirsync's CPU time and peak RSS (/usr/bin/time -v), and the
# server's CPU time. PROFILE scim runs pipeline-scim.yaml instead: the SCIM profile, users
# matched by userName and created as nested SCIM JSON.
#
#   bench/rest/run.sh BUILD_DIR [USERS] [CONCURRENCIES] [PROFILE]   e.g. bench/rest/run.sh build 50000 "1 8" generic
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: bench/rest/run.sh BUILD_DIR [USERS] [CONCURRENCIES] [generic|scim]}
users=${2:-50000}
concurrencies=${3:-1 8}
case ${4:-generic} in
  generic) pipeline=$here/pipeline.yaml ;;
  scim) pipeline=$here/pipeline-scim.yaml ;;
  *) echo "profile must be generic or scim, not '$4'" >&2; exit 2 ;;
esac
dirsync=$build/bin/dirsync
server=$build/bin/rest-bench-server
for exe in "$dirsync" "$server"; do
  [ -x "$exe" ] || { echo "missing $exe: build first (cmake --build $build)" >&2; exit 1; }
done
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export BENCH_TOKEN=bench-token-not-secret

python3 "$here/../../pipelines/data/generate_demo.py" --users "$users" --groups 0 --out "$work" --prefix bench
mv "$work/bench-users.csv" "$work/users.csv"
echo "$(basename "$pipeline"): $users users, $(du -h "$work/users.csv" | cut -f1) of CSV; $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"

for c in $concurrencies; do
  # The server's one stdout line names its port; a fifo hands it over without polling.
  rm -f "$work/port" "$work"/*.state.db*
  mkfifo "$work/port"
  "$server" --threads 16 >"$work/port" 2>"$work/server.err" &
  pid=$!
  read -r _ address <"$work/port"
  sed -e "s|BASE_URL|http://$address|" -e "s|CONCURRENCY|$c|" "$pipeline" >"$work/pipeline.yaml"
  /usr/bin/time -v "$dirsync" run "$work/pipeline.yaml" >"$work/out" 2>"$work/time" || {
    cat "$work/out" "$work/time"; exit 1; }
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
  requests=$(sed -n 's/^requests \([0-9]*\) .*/\1/p' "$work/server.err")
  server_cpu=$(sed -n 's/.* cpu \([0-9.]*\) s/\1/p' "$work/server.err")
  secs=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time" |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
  cpu=$(sed -n 's/.*\(User\|System\) time (seconds): //p' "$work/time" | awk '{ s += $1 } END { print s }')
  created=$(sed -n 's/.*created \([0-9]*\).*/\1/p' "$work/out" | head -1)
  echo "concurrency $c: created $created, $requests requests in ${secs} s =" \
    "$(awk -v n="$requests" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') requests/s," \
    "$(awk -v n="$created" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') users/s;" \
    "dirsync CPU ${cpu} s, peak RSS $((rss / 1024)) MiB; server CPU ${server_cpu} s"
done
