#!/usr/bin/python3
"""Measures the LAPACK floors of a results file again and splices them in.

Until BM_Dpotrf, BM_DtrsmFloor and BM_Dtrtri wrote their output matrices
before timing, the first iteration paid the first touch of those pages. With
the few iterations of the large sizes that showed on a virtual machine where
first touch costs about 10 us per 4 KB page (dpotrf at N = 4000: 519 ms
against 185 ms). This runs BM_Dpotrf and BM_DtrsmFloor again for every size
and variant of a results.json that has them, replaces their medians, and
notes that in the file; `summarize.py FILE` then writes the tables again.

    bench/gp/floors_again.py --binary build/bench/gp/bench_gp bench/gp/results_epyc.json
"""

import argparse
import datetime
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare import blas_env, medians  # noqa: E402

# run.sh's variants that time the floors: (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS).
VARIANTS = {"project": ("", 0), "skylakex": ("SkylakeX", 0), "onethread": ("SkylakeX", 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(HERE, "../../build/bench/gp/bench_gp"))
    parser.add_argument("results")
    args = parser.parse_args()
    with open(args.results) as f:
        doc = json.load(f)
    for size in doc["median_ms"]["project"]:
        for variant, (coretype, threads) in VARIANTS.items():
            row = doc["median_ms"].get(variant, {}).get(size)
            if not row:
                continue
            got = medians(args.binary, f"BM_(Dpotrf|DtrsmFloor)/{size}$",
                          blas_env(coretype, threads))
            for name, ms in got.items():
                if name in row:
                    print(f"bench/gp/floors_again: {size} {variant} {name}: "
                          f"{row[name]:.2f} -> {ms:.2f} ms", file=sys.stderr)
                    row[name] = ms
    doc["context"]["note"] = (
        f"The dpotrf and dtrsm floors were measured again on {datetime.date.today()}, "
        "a few minutes after the other numbers, once the floors no longer paid the first "
        "touch of their output (bench/gp/floors_again.py); ratios to them compare two runs.")
    with open(args.results, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
