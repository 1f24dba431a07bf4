#!/bin/sh
# Builds the service fuzz target with clang, libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer in $FUZZ_BUILD (default build-fuzz/), then fuzzes
# for SECONDS (default 60). New inputs go to $FUZZ_BUILD/corpus; the committed
# corpus in tests/fuzz/corpus is read, not written. After a long run, minimise
# the new inputs into the committed corpus with:
#   build-fuzz/tests/service_fuzzer -merge=1 tests/fuzz/corpus build-fuzz/corpus
# A crash leaves its input in $FUZZ_BUILD/crash-* and exits non-zero.
#
#   deploy/fuzz.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-60}"
b="${FUZZ_BUILD:-build-fuzz}"
CC=clang CXX=clang++ cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLAGO_FUZZ=ON \
  -DCMAKE_C_FLAGS="-fsanitize=address,undefined,fuzzer-no-link" \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined" \
  >/dev/null
cmake --build "$b" -j"$(nproc)" --target service_fuzzer
mkdir -p "$b/corpus"
# -rss_limit_mb: the studies of one input are small; more means a leak.
"$b/tests/service_fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 \
  -timeout=30 -print_final_stats=1 -artifact_prefix="$b/" "$b/corpus" tests/fuzz/corpus
