#!/usr/bin/python3
"""The quadratic trend with integer and categorical parameters: each lago
method of bench_mixed_gradients.py (values only, with gradients, on request)
with its default prior mean (the trend) against the same method with
`trend = constant` (the method `NAME+trend=constant`), seed by seed.

    /usr/bin/python3 bench/optimizers/bench_mixed_gradients.py --seeds 20 \\
        --methods lago,lago-enhanced,lago-on-request --out a.jsonl
    /usr/bin/python3 bench/optimizers/bench_mixed_gradients.py --seeds 20 \\
        --methods "lago+trend=constant,lago-enhanced+trend=constant,lago-on-request+trend=constant" \\
        --out b.jsonl
    cat a.jsonl b.jsonl > bench/optimizers/mixed_trend.jsonl
    /usr/bin/python3 bench/optimizers/mixed_trend.py bench/optimizers/mixed_trend.jsonl \\
        --out bench/optimizers/mixed_trend
"""

import argparse
import json
import warnings
from collections import defaultdict

import numpy as np
from scipy.stats import wilcoxon

from report import write


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs")
    parser.add_argument("--out", required=True, help="writes OUT.md and OUT.json")
    args = parser.parse_args()
    # scipy warns that 20 pairs with ties are too few for its normal
    # approximation; the p-values are read as a rough guide only.
    warnings.simplefilter("ignore")
    regret = defaultdict(dict)  # (problem, method) -> seed -> final log10 regret
    for line in open(args.runs):
        r = json.loads(line)
        regret[(r["problem"], r["method"])][r["seed"]] = r["final_log10_regret"]
    lines = [f"Command: `bench/optimizers/mixed_trend.py {args.runs} --out {args.out}`", "",
             "Final log10 regret, median [quartiles], with the quadratic trend (the "
             "default) and with trend = constant; better / worse count seeds whose final "
             "log10 regret moved by more than 0.005, p is a paired Wilcoxon signed-rank "
             "test.", "",
             "| problem | method | quadratic | constant | better / worse | p |",
             "|---|---|---|---|---|---|"]
    data, totals = [], defaultdict(lambda: [0, 0])
    for problem, method in sorted(k for k in regret if "+" not in k[1]):
        with_ = regret[(problem, method)]
        without = regret.get((problem, method + "+trend=constant"), {})
        seeds = sorted(set(with_) & set(without))
        if not seeds:
            continue
        a = np.array([with_[s] for s in seeds])
        b = np.array([without[s] for s in seeds])
        better, worse = int(np.sum(a < b - 0.005)), int(np.sum(a > b + 0.005))
        p = float(wilcoxon(a, b).pvalue) if better + worse else 1.0
        totals[method][0] += better
        totals[method][1] += worse

        def cell(v):
            return (f"{np.median(v):.2f} [{np.percentile(v, 25):.2f}, "
                    f"{np.percentile(v, 75):.2f}]")

        lines.append(f"| {problem} | {method} | {cell(a)} | {cell(b)} | {better} / {worse} "
                     f"| {p:.2g} |")
        data.append({"problem": problem, "method": method, "seeds": len(seeds),
                     "median_quadratic": float(np.median(a)),
                     "median_constant": float(np.median(b)),
                     "better": better, "worse": worse, "p": p})
    lines += ["", "Over the problems, seeds better / worse with the trend: " +
              ", ".join(f"{m} {b} / {w}" for m, (b, w) in sorted(totals.items())) + "."]
    write(args.out, "mixed_trend", {"rows": data, "totals": dict(totals)}, lines)
    print(lines[-1])


if __name__ == "__main__":
    main()
