#!/usr/bin/python3
"""The posterior with gradients at 1000 points, one at a time against batched.

A model's report at every completed trial (GetBest with the model, Predict
on many points) takes the posterior mean, variance and both gradients at
each point. One point at a time, each variance costs two triangular solves
with one vector (dtrsv); GaussianProcess::PredictWithGradients on a matrix
solves for up to 256 points at once (matrix products) and keeps only the
gradients' products per point. For each size this measures both back to
back in one run of bench_gp, with OpenBLAS's own choice of kernels and one
OpenBLAS thread, as lago-server runs by default.

    bench/gp/batched_gradients.py --out bench/gp/batched_gradients

writes batched_gradients.md and batched_gradients.json (a few minutes).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare import blas_env, medians, ms, one_build_parser, save_run  # noqa: E402

NAMES = ["GradientsAt1000Singly", "GradientsAt1000Batched"]


def main():
    parser = one_build_parser(__doc__)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    env = blas_env("", args.threads)
    rows = []
    for size in args.sizes.split(","):
        print(f"bench/gp/batched_gradients: d/N = {size}", file=sys.stderr)
        got = medians(args.binary, f"BM_({'|'.join(NAMES)})/{size}($|/)", env)
        rows.append({"size": size, **{n: got[f"BM_{n}"] for n in NAMES}})
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), "unknown")
    run = save_run(args.out, "bench/gp/batched_gradients.py", rows, cpu=cpu,
                   threads=args.threads)
    with open(args.out + ".md", "w") as f:
        f.write(f"Command: `{run['command']}`\n\n"
                f"Run {run['date']} on {cpu}, OpenBLAS's own choice of kernels, "
                f"OPENBLAS_NUM_THREADS={args.threads}; medians of 3 repetitions in ms, "
                "both measured back to back for each size. N: the GP's outputs "
                "(points x (d + 1)).\n\n"
                "| d/N | one point at a time | batched | one at a time / batched |\n"
                "|---|---|---|---|\n")
        for r in rows:
            single, batched = r["GradientsAt1000Singly"], r["GradientsAt1000Batched"]
            f.write(f"| {r['size']} | {ms(single)} | {ms(batched)} | "
                    f"{single / batched:.2f} |\n")


if __name__ == "__main__":
    main()
