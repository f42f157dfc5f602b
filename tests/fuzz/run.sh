#!/bin/sh
# Builds the libFuzzer targets with clang and runs each for SECONDS.
#   tests/fuzz/run.sh BUILD_DIR SECONDS
# Exit status: 0 no crash, 1 a crash (its input is saved in BUILD_DIR) or a
# build failure, 77 clang or libFuzzer missing (CTest reports a skip).
# Needs: clang, libFuzzer and libc++ (Debian: clang libclang-rt-14-dev libc++-14-dev libc++abi-14-dev).
set -u
build=${1:?usage: run.sh BUILD_DIR SECONDS}
duration=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)

command -v clang++ >/dev/null 2>&1 || { echo "run.sh: clang++ not found; skipping"; exit 77; }
mkdir -p "$build" || exit 1
probe="$build/probe.cpp"
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$probe"
if ! clang++ -stdlib=libc++ -fsanitize=fuzzer "$probe" -o "$build/probe" \
    "$(clang++ -print-file-name=libstdc++.so)" >/dev/null 2>&1; then
  echo "run.sh: clang++ cannot link libFuzzer with libc++ (install libclang-rt-14-dev libc++-14-dev libc++abi-14-dev); skipping"
  exit 77
fi

cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
cmake --build "$build" -j2 || exit 1

status=0
targets=""
for exe in "$build"/*fuzz_*; do
  [ -f "$exe" ] && [ -x "$exe" ] && targets="$targets $(basename "$exe")"
done
[ -n "$targets" ] || { echo "run.sh: no fuzz targets were built"; exit 1; }
for target in $targets; do
  corpus="$build/corpus/$target"
  mkdir -p "$corpus"
  echo "run.sh: $target for ${duration}s"
  # The first corpus directory collects new inputs; the seeds stay read-only.
  seeds="$here/corpus/$target"
  [ -d "$seeds" ] || seeds=""
  # shellcheck disable=SC2086 # $seeds is empty or one directory
  if ! "$build/$target" -max_total_time="$duration" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/$target-" "$corpus" $seeds 2>"$build/$target.log"; then
    tail -n 40 "$build/$target.log"
    echo "run.sh: $target failed; reproduce with: $build/$target $build/$target-crash-*"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$build/$target.log" | tail -n 2
  fi
done
exit $status
