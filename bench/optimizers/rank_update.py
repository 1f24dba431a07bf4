#!/usr/bin/python3
"""Rank updates between refits against refactorising at every suggestion.

Between two hyperparameter fits lago extends the Cholesky factor of its
model with each new point (strategy option rank_update = 1, the default)
instead of rebuilding and refactorising it (rank_update = 0). This runs
suggest_time (lago's Suggest, gradient-enhanced, a shifted sphere) with both,
one suggestion of each in turn, so that both see the same load, with one
OpenBLAS thread as lago-server runs by default:

    /usr/bin/python3 bench/optimizers/rank_update.py --out bench/optimizers/rank_update

writes rank_update.md and rank_update.json.
"""

import argparse
import datetime
import os
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import report  # noqa: E402
from blas_threads import coretype_label, suggest_time_rows  # noqa: E402


def run(binary, dims, evaluations):
    rows, _ = suggest_time_rows(binary, 1, ["--dims", dims, "--evaluations", str(evaluations),
                                            "--baseline", "rank_update=0"])
    return [{"d": int(c[0]), "observations": c[1], "median_ms": float(c[2]),
             "max_ms": float(c[3]), "refits": int(c[4]), "baseline_median_ms": float(c[5]),
             "baseline_max_ms": float(c[6]), "baseline_refits": int(c[7]),
             "kept_mb": float(c[9])} for c in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary",
                        default=os.path.join(ROOT, "build/bench/optimizers/suggest_time"))
    parser.add_argument("--dims", default="2,6,10")
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--out", required=True, help="path without extension")
    args = parser.parse_args()
    blocks = run(args.binary, args.dims, args.evaluations)
    if len(blocks) != len(args.dims.split(",")) * (args.evaluations // 20):
        raise SystemExit(f"rank_update: expected a row per 20 observations from {args.binary}, "
                         f"got {len(blocks)}")
    command = shlex.join(["bench/optimizers/rank_update.py"] + sys.argv[1:])
    today = datetime.date.today().isoformat()
    lines = [f"Command: `{command}`", "",
             f"Run {today} on {os.cpu_count()} CPUs, {coretype_label()}, one "
             "OpenBLAS thread. suggest_time runs lago's Suggest (gradient-enhanced, a "
             "shifted sphere) with rank_update = 1 (the default: between refits each new "
             "point extends the Cholesky factor) and rank_update = 0 (the model is "
             "rebuilt and refactorised at every suggestion), one suggestion of each in "
             "turn. Per block of 20 observations: the median suggestion (the maximum is a "
             "refit, which both do alike), and the memory of the kept model at the end of "
             "the block.", "",
             "| d | observations | rank updates: median ms | refactorising: median ms "
             "| refactorising / rank updates | rank updates: max ms "
             "| refactorising: max ms | refits | kept model MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for b in blocks:
        ratio = (f"{b['baseline_median_ms'] / b['median_ms']:.2f}"
                 if b["median_ms"] > 0 else "-")
        lines.append(f"| {b['d']} | {b['observations']} | {b['median_ms']:.1f} | "
                     f"{b['baseline_median_ms']:.1f} | {ratio} | {b['max_ms']:.1f} | "
                     f"{b['baseline_max_ms']:.1f} | {b['refits']} / {b['baseline_refits']} | "
                     f"{b['kept_mb']:.1f} |")
    report.write(args.out, "rank_update",
                 {"command": command, "date": today, "cpus": os.cpu_count(), "blocks": blocks},
                 lines)


if __name__ == "__main__":
    main()
