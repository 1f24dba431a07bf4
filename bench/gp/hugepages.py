#!/usr/bin/python3
"""What transparent huge pages would do for the GP's large blocks.

GLIBC_TUNABLES=glibc.malloc.hugetlb=1 makes glibc ask the kernel for
transparent huge pages on the large blocks it maps, such as a GP's factor,
which the triangular solves sweep column by column. lago-server does not set
it (bench/gp/README.md: the gains were mixed). This runs bench_gp with
OPENBLAS_CORETYPE=SkylakeX and without, then with, the tunable, back to back
for each size, with one OpenBLAS thread (lago-server's default) and with two,
and writes the ratios.

    bench/gp/hugepages.py --out bench/gp/hugepages

writes hugepages.md and hugepages.json (about ten minutes).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare import medians, ms, one_build_parser, save_run  # noqa: E402

BENCHMARKS = ["BuildAndFactorize", "IncrementalAdd", "Predict1000", "PredictWithGradients"]
TUNABLE = "glibc.malloc.hugetlb=1"


def main():
    parser = one_build_parser(__doc__)
    parser.set_defaults(sizes="2/2000,10/1000,10/2000,10/4000,20/2000,20/4000")
    parser.add_argument("--threads", default="1,2", help="OPENBLAS_NUM_THREADS values")
    args = parser.parse_args()
    rows = []
    for threads in args.threads.split(","):
        for size in args.sizes.split(","):
            row = {"threads": int(threads), "size": size}
            for pages, tunables in (("small", None), ("huge", TUNABLE)):
                print(f"bench/gp/hugepages: {threads} thread(s), d/N = {size}, {pages}",
                      file=sys.stderr)
                env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX",
                           OPENBLAS_NUM_THREADS=threads)
                env.pop("GLIBC_TUNABLES", None)
                if tunables:
                    env["GLIBC_TUNABLES"] = tunables
                got = medians(args.binary, f"BM_({'|'.join(BENCHMARKS)})/{size}$", env)
                row[pages] = {b: got[f"BM_{b}"] for b in BENCHMARKS}
            rows.append(row)
    run = save_run(args.out, "bench/gp/hugepages.py", rows)
    with open(args.out + ".md", "w") as f:
        f.write(f"Command: `{run['command']}`\n\n"
                f"Run {run['date']}, OPENBLAS_CORETYPE=SkylakeX; medians of 3 repetitions "
                f"in ms, without then with GLIBC_TUNABLES={TUNABLE}, back to back for each "
                "size; \"without / with\" above 1 means huge pages were faster.\n\n")
        f.write("| threads | d/N | " + " | ".join(
            f"{b}: without | with | without / with" for b in BENCHMARKS) + " |\n")
        f.write("|---|---|" + "---|---|---|" * len(BENCHMARKS) + "\n")
        for r in rows:
            cells = []
            for b in BENCHMARKS:
                small, huge = r["small"][b], r["huge"][b]
                cells += [ms(small), ms(huge), f"{small / huge:.2f}"]
            f.write(f"| {r['threads']} | {r['size']} | " + " | ".join(cells) + " |\n")
    print(f"bench/gp/hugepages: wrote {args.out}.md and {args.out}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
