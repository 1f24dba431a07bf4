#!/usr/bin/python3
"""Where does the blocked triangular solve beat OpenBLAS's dtrsm?

GaussianProcess::Predict solves L^-1 K_x by blocks (core/triangular_solve.h)
only with OpenBLAS's AVX-512 kernels. For each kernel set and size this runs,
back to back in one bench_gp process, BM_DtrsmFloor (dtrsm with 1000
right-hand sides) and BM_SolveByBlocks (the same solve by blocks, the
inversion of the diagonal blocks included), and writes the ratio.

    bench/gp/blocked_kernels.py --out bench/gp/blocked_kernels

writes blocked_kernels.md and blocked_kernels.json (a few minutes).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare import medians, ms, one_build_parser, save_run  # noqa: E402


def main():
    parser = one_build_parser(__doc__)
    parser.add_argument("--coretypes", default="SkylakeX,Haswell,Prescott")
    args = parser.parse_args()
    coretypes = args.coretypes.split(",")
    rows = []
    for size in args.sizes.split(","):
        row = {"size": size}
        for core in coretypes:
            print(f"bench/gp/blocked_kernels: d/N = {size}, {core}", file=sys.stderr)
            env = dict(os.environ, OPENBLAS_CORETYPE=core)
            got = medians(args.binary, f"BM_(DtrsmFloor|SolveByBlocks)/{size}($|/)", env)
            row[core] = {"dtrsm_ms": got["BM_DtrsmFloor"],
                         "by_blocks_ms": got["BM_SolveByBlocks"]}
        rows.append(row)
    run = save_run(args.out, "bench/gp/blocked_kernels.py", rows)
    with open(args.out + ".md", "w") as f:
        f.write(f"Command: `{run['command']}`\n\n"
                f"Run {run['date']}; medians of 3 repetitions in ms of L^-1 B with 1000 "
                "columns, dtrsm then the solve by blocks, back to back in one process "
                "for each size and kernel set.\n\n")
        f.write("| d/N | " + " | ".join(f"{c}: dtrsm | {c}: by blocks | {c}: blocks / dtrsm"
                                        for c in coretypes) + " |\n")
        f.write("|---|" + "---|---|---|" * len(coretypes) + "\n")
        for r in rows:
            cells = []
            for c in coretypes:
                t, b = r[c]["dtrsm_ms"], r[c]["by_blocks_ms"]
                cells += [ms(t), ms(b), f"{b / t:.2f}"]
            f.write(f"| {r['size']} | " + " | ".join(cells) + " |\n")
    print(f"bench/gp/blocked_kernels: wrote {args.out}.md and {args.out}.json",
          file=sys.stderr)


if __name__ == "__main__":
    main()
