#!/usr/bin/python3
"""Would keeping L^-1 with the model make batch predictions cheaper?

Predicting m candidates costs one triangular solve L^-1 K_x with m right-hand
sides (dtrsm, as the prediction made it before its solve by blocks). With the
inverse factor L^-1 kept beside L, the same product is a triangular multiply
(dtrmm), which OpenBLAS runs faster; but L^-1 costs a dtrtri after every
factorisation. For each size this measures, back to back in one run of
bench_gp, Predict1000, the dtrsm floor, dtrmm with L^-1, dtrtri and
BuildAndFactorize, and computes how many candidates a model would have to
predict between two factorisations for dtrtri to pay for itself:
1000 x dtrtri / (dtrsm - dtrmm).

    bench/gp/inverse_factor.py --out bench/gp/inverse_factor

writes inverse_factor.md and inverse_factor.json (OPENBLAS_CORETYPE=SkylakeX,
the kernels lago-server selects on this machine; a few minutes).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare import blas_env, medians, ms, one_build_parser, save_run  # noqa: E402

NAMES = ["Predict1000", "DtrsmFloor", "DtrmmWithInverse", "Dtrtri", "BuildAndFactorize"]


def main():
    parser = one_build_parser(__doc__)
    parser.add_argument("--coretype", default="SkylakeX")
    args = parser.parse_args()
    env = blas_env(args.coretype)
    rows = []
    for size in args.sizes.split(","):
        print(f"bench/gp/inverse_factor: d/N = {size}", file=sys.stderr)
        got = medians(args.binary, f"BM_({'|'.join(NAMES)})/{size}($|/)", env)
        row = {"size": size, **{n: got[f"BM_{n}"] for n in NAMES}}
        saved = row["DtrsmFloor"] - row["DtrmmWithInverse"]
        row["break_even_candidates"] = 1000.0 * row["Dtrtri"] / saved if saved > 0 else None
        rows.append(row)
    run = save_run(args.out, "bench/gp/inverse_factor.py", rows, coretype=args.coretype)
    with open(args.out + ".md", "w") as f:
        f.write(f"Command: `{run['command']}`\n\n"
                f"Run {run['date']}, OPENBLAS_CORETYPE={args.coretype or '(unset)'}; "
                "medians of 3 repetitions in ms, measured back to back for each size. "
                "Break-even: the candidates a model must predict between two "
                "factorisations for dtrtri to pay for itself, 1000 x dtrtri / (dtrsm - "
                "dtrmm).\n\n"
                "| d/N | predict 1000 | dtrsm floor | dtrmm with L^-1 | dtrmm / dtrsm | "
                "dtrtri | build + factorise | break-even candidates |\n"
                "|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            even = r["break_even_candidates"]
            f.write(f"| {r['size']} | {ms(r['Predict1000'])} | {ms(r['DtrsmFloor'])} | "
                    f"{ms(r['DtrmmWithInverse'])} | "
                    f"{r['DtrmmWithInverse'] / r['DtrsmFloor']:.2f} | {ms(r['Dtrtri'])} | "
                    f"{ms(r['BuildAndFactorize'])} | "
                    f"{'never' if even is None else f'{even:.0f}'} |\n")
    print(f"bench/gp/inverse_factor: wrote {args.out}.md and {args.out}.json",
          file=sys.stderr)


if __name__ == "__main__":
    main()
