#!/usr/bin/python3
"""Where does the solve by panels beat OpenBLAS's dtrsm on few columns?

An incremental add solves L W = B for the d + 1 columns of a new point's
cross-covariances. SolveLower (core/triangular_solve.h) does it by panels
(SolveLowerByPanels, one thread) for at most 32 columns with AVX-512 and 23
with AVX2 when OpenBLAS runs one thread per call, as lago-server does by
default, and with dtrsm otherwise. With OpenBLAS on one thread
(OPENBLAS_NUM_THREADS=1, --threads to change it) and for each of its kernel
sets, this runs back to back in one bench_gp process for each size:

- BM_AddSolveDtrsm, BM_AddSolveByPanels (the widest instruction set this
  CPU runs), BM_AddSolveByPanelsAvx2 and BM_AddSolveByPanelsSse2 with d + 1
  columns;
- BM_ColumnsDtrsm and BM_ColumnsByPanels with 1 to 127 columns at d = 10.

    bench/gp/panel_solve.py --out bench/gp/panel_solve

writes panel_solve.md and panel_solve.json (about ten minutes).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare import medians, ms, one_build_parser, save_run  # noqa: E402

ADD = ["Dtrsm", "ByPanels", "ByPanelsAvx2", "ByPanelsSse2"]
COLUMNS = [1, 2, 4, 8, 11, 16, 21, 24, 32, 64, 127]


def widest_isa():
    """The widest instruction set SolveLowerByPanels runs on this CPU."""
    with open("/proc/cpuinfo") as f:
        flags = next((line.split() for line in f if line.startswith("flags")), [])
    if "avx512f" in flags:
        return "AVX-512"
    return "AVX2" if "avx2" in flags and "fma" in flags else "SSE2"


def main():
    parser = one_build_parser(__doc__)
    parser.add_argument("--coretypes", default="SkylakeX,Haswell")
    parser.add_argument("--column-sizes", default="10/1000,10/2000,10/4000")
    parser.add_argument("--threads", default="1", help="OPENBLAS_NUM_THREADS")
    args = parser.parse_args()
    coretypes = args.coretypes.split(",")
    add_rows, column_rows = [], []
    for core in coretypes:
        env = dict(os.environ, OPENBLAS_CORETYPE=core, OPENBLAS_NUM_THREADS=args.threads)
        for size in args.sizes.split(","):
            print(f"bench/gp/panel_solve: {core}, d/N = {size}", file=sys.stderr)
            got = medians(args.binary, f"BM_AddSolve({'|'.join(ADD)})/{size}$", env)
            add_rows.append({"kernels": core, "size": size,
                             **{m: got[f"BM_AddSolve{m}"] for m in ADD}})
        for size in args.column_sizes.split(","):
            for c in COLUMNS:
                print(f"bench/gp/panel_solve: {core}, d/N = {size}, {c} columns",
                      file=sys.stderr)
                got = medians(args.binary, f"BM_Columns(Dtrsm|ByPanels)/{size}/{c}$", env)
                column_rows.append({"kernels": core, "size": size, "columns": c,
                                    "Dtrsm": got["BM_ColumnsDtrsm"],
                                    "ByPanels": got["BM_ColumnsByPanels"]})
    run = save_run(args.out, "bench/gp/panel_solve.py",
                   {"add": add_rows, "columns": column_rows}, threads=args.threads)
    with open(args.out + ".md", "w") as f:
        f.write(f"Command: `{run['command']}`\n\n"
                f"Run {run['date']} with OPENBLAS_NUM_THREADS={args.threads}; medians of 3 "
                "repetitions in ms of L^-1 B, back to back in one process for each size "
                "and OpenBLAS kernel set. \"panels\" is SolveLowerByPanels as SolveLower "
                f"runs it ({widest_isa()} on this CPU); \"AVX2\" and \"SSE2\" are its "
                "builds for those instruction sets.\n\n"
                "## The add's solve: d + 1 columns\n\n")
        f.write("| kernels | d/N | dtrsm | panels | AVX2 | SSE2 | dtrsm / panels | "
                "dtrsm / AVX2 |\n|---|---|---|---|---|---|---|---|\n")
        for r in add_rows:
            f.write(f"| {r['kernels']} | {r['size']} | "
                    + " | ".join(ms(r[m]) for m in ADD)
                    + f" | {r['Dtrsm'] / r['ByPanels']:.2f} | "
                    f"{r['Dtrsm'] / r['ByPanelsAvx2']:.2f} |\n")
        f.write("\n## More columns (d = 10)\n\n| kernels | d/N | columns | dtrsm | panels "
                "| dtrsm / panels |\n|---|---|---|---|---|---|\n")
        for r in column_rows:
            f.write(f"| {r['kernels']} | {r['size']} | {r['columns']} | {ms(r['Dtrsm'])} "
                    f"| {ms(r['ByPanels'])} | {r['Dtrsm'] / r['ByPanels']:.2f} |\n")
    print(f"bench/gp/panel_solve: wrote {args.out}.md and {args.out}.json",
          file=sys.stderr)


if __name__ == "__main__":
    main()
