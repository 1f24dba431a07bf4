#!/usr/bin/env bash
# Runs the GP benchmark size by size, so that every comparison (the project's
# build, plain Eigen, OpenBLAS with its AVX-512 kernels forced, the same with
# one OpenBLAS thread as lago-server runs by default, and the LAPACK floors) is
# measured back to back on this shared machine; then writes bench/gp/RESULTS.md
# and bench/gp/results.json. About 30 minutes.
#
#   bench/gp/run.sh            (after deploy/build.sh)
#   BUILD=/tmp/b bench/gp/run.sh   (binaries from another build directory)
#   MD=bench/gp/RESULTS_other.md JSON=bench/gp/results_other.json bench/gp/run.sh
#                                  (another machine's results beside these)
#   SIZES="2/500 10/500" bench/gp/run.sh   (some of the sizes only)
#   FORCE= bench/gp/run.sh     (a CPU without AVX-512: no kernels forced, and
#                               one thread with OpenBLAS's own kernels)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
md=${MD:-bench/gp/RESULTS.md}
json=${JSON:-bench/gp/results.json}
force=${FORCE-SkylakeX}
sizes=${SIZES:-"2/500 2/1000 2/2000 2/4000 10/500 10/1000 10/2000 10/2200 10/4000 \
20/500 20/1000 20/2000 20/4000"}
out=$(mktemp -d)
common=(--benchmark_min_time=0.2 --benchmark_repetitions=3
        --benchmark_report_aggregates_only=true --benchmark_out_format=json)
for size in $sizes; do
  tag=${size/\//_}
  echo "bench/gp: d/N = $size" >&2
  env -u OPENBLAS_CORETYPE "$build"/bench/gp/bench_gp "${common[@]}" \
    --benchmark_filter="/${size}(\$|/iterations)" \
    --benchmark_out="$out/project_$tag.json" > /dev/null
  env -u OPENBLAS_CORETYPE "$build"/bench/gp/bench_gp_eigen "${common[@]}" \
    --benchmark_filter="(EigenLlt|BuildAndFactorize|IncrementalAdd|Predict1000)/${size}\$" \
    --benchmark_out="$out/eigen_$tag.json" > /dev/null
  if [ -n "$force" ]; then
    OPENBLAS_CORETYPE=$force "$build"/bench/gp/bench_gp "${common[@]}" \
      --benchmark_filter="(EigenLlt|Dpotrf|BuildAndFactorize|IncrementalAdd|AddFloor|Predict1000|DtrsmFloor|PredictWithGradients|LogLikelihoodWithGradient)/${size}\$" \
      --benchmark_out="$out/skylakex_$tag.json" > /dev/null
  fi
  env -u OPENBLAS_CORETYPE ${force:+OPENBLAS_CORETYPE=$force} OPENBLAS_NUM_THREADS=1 \
    "$build"/bench/gp/bench_gp "${common[@]}" \
    --benchmark_filter="(Dpotrf|BuildAndFactorize|IncrementalAdd|AddFloor|Predict1000|PredictWithGradients|LogLikelihoodWithGradient)/${size}\$" \
    --benchmark_out="$out/onethread_$tag.json" > /dev/null
done
/usr/bin/python3 bench/gp/summarize.py "$out" "$json" > "$md"
rm -rf "$out"
echo "bench/gp: wrote $md and $json" >&2
