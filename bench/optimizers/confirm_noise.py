#!/usr/bin/python3
"""Noisy values: does re-measuring the point lago would recommend, in the last
part of the budget, recommend a better point?

Under noise the point a study recommends is the evaluated point of lowest
posterior mean. A point measured once, with a lucky draw of the noise, has a
mean that follows that draw. This script runs `lago` with `noise = 1` on the
noisy problems of bench_noise.py (values only, budget 20d evaluations) in
two ways with the same seed and the same stream of noise:

- plain (`--frac 0`): the whole budget goes to the strategy's suggestions;
- confirmed (`--frac F`): the strategy gets the first (1 - F) of the budget,
  and the last F x budget evaluations re-measure an evaluated point, told to
  the study with `add_observations` (under `noise = 1` repeats join the model
  as their mean). The rule `min` re-measures the point of lowest posterior
  mean, asked afresh after each measurement, so that a lucky point whose
  mean rises gives way to the next; `lcb` the point of lowest mean minus one
  posterior standard deviation.

Each run records the noiseless regret of the point recommended at the end
(lowest posterior mean among the evaluated points), and for the confirmed
runs also of the point recommended when the strategy's part ended (`cut`).
Runs already in --out are skipped.

    PYTHONPATH=build/python /usr/bin/python3 bench/optimizers/confirm_noise.py \\
        --seeds 100 --problems branin hartmann6 --frac 0 0.1 0.2 --rule min \\
        --out bench/optimizers/confirm_noise.jsonl
    PYTHONPATH=build/python /usr/bin/python3 bench/optimizers/confirm_noise.py \\
        --seeds 100 --problems branin hartmann6 --frac 0.1 0.2 --rule lcb \\
        --out bench/optimizers/confirm_noise.jsonl
    /usr/bin/python3 bench/optimizers/confirm_noise.py --summarize \\
        --out bench/optimizers/confirm_noise.jsonl   # writes confirm_noise.md, .json
"""

import argparse
import json
import math
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_noise import NOISE, SERVER_METHODS, Noisy, done_runs  # noqa: E402
from bench_optimizers import next_trial, start_server  # noqa: E402
from problems import PROBLEMS  # noqa: E402

METHOD = "lago-noise-floor"  # lago, values only, noise = 1, the default floor


def run(client, name, problem, noisy, seed, cut, rule):
    strategy, options, _, mode = SERVER_METHODS[METHOD]
    study = client.create_study(
        f"{name}-confirm-{seed}-{cut}-{rule}",
        [(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(problem.bounds)],
        strategy=strategy, gradient_mode=mode, seed=seed, budget=noisy.budget,
        strategy_options=options)
    while noisy.cost < noisy.budget - cut:
        trial = next_trial(study)
        if trial is None:
            break
        value, _ = noisy.evaluate(trial.x, False)
        study.observe(trial, value)
    points = [list(x) for x in noisy.points]
    means = study.predict(points).mean
    out = {"cut_regret": noisy.regret(points[int(np.argmin(means))])}
    measured = set()
    while noisy.cost < noisy.budget:
        p = study.predict(points)
        score = np.array(p.mean) - (np.array(p.std) if rule == "lcb" else 0.0)
        i = int(np.argmin(score))
        measured.add(i)
        value, _ = noisy.evaluate(points[i], False)
        study.add_observations([points[i]], [value])
    means = study.predict(points).mean
    out["regret"] = noisy.regret(points[int(np.argmin(means))])
    out["points_measured_again"] = len(measured)
    return out


def wilcoxon_p(a, b):
    from scipy.stats import wilcoxon
    d = np.array(a) - np.array(b)
    if not np.any(np.abs(d) > 1e-12):
        return 1.0
    return float(wilcoxon(a, b).pvalue)


def summarize(path):
    rows = [json.loads(line) for line in open(path)]
    log = {(r["problem"], r["frac"], r["rule"], r["seed"]): math.log10(r["regret"])
           for r in rows}
    cut = {(r["problem"], r["frac"], r["rule"], r["seed"]): math.log10(r["cut_regret"])
           for r in rows}
    problems = [p for p in NOISE if any(r["problem"] == p for r in rows)]
    arms = sorted({(r["frac"], r["rule"]) for r in rows if r["frac"] > 0})
    lines = [
        "# Re-measuring the recommended point under noise: results", "",
        "Written by `confirm_noise.py --summarize` from `confirm_noise.jsonl`; "
        "the command and the set-up are in the script's docstring.", "",
        "Median log10 regret of the recommended point (noiseless f), plain runs "
        "against runs whose last fraction of the budget re-measures evaluated "
        "points; `cut`: the point recommended when the strategy's part ended. "
        "Seeds better / worse than the plain run (equal within 1e-12 are "
        "neither) and the p-value of a paired Wilcoxon signed-rank test.", "",
        "| problem | rule | fraction | seeds | plain | cut | confirmed | better / worse | p |",
        "|---|---|---|---|---|---|---|---|---|"]
    table = []
    for problem in problems:
        for frac, rule in arms:
            seeds = sorted(s for (p, f, r, s) in log
                           if p == problem and f == frac and r == rule
                           and (p, 0.0, "min", s) in log)
            if not seeds:
                continue
            plain = [log[(problem, 0.0, "min", s)] for s in seeds]
            conf = [log[(problem, frac, rule, s)] for s in seeds]
            at_cut = [cut[(problem, frac, rule, s)] for s in seeds]
            better = sum(c < b - 1e-12 for c, b in zip(conf, plain))
            worse = sum(c > b + 1e-12 for c, b in zip(conf, plain))
            row = {"problem": problem, "rule": rule, "fraction": frac,
                   "seeds": len(seeds), "plain": float(np.median(plain)),
                   "cut": float(np.median(at_cut)), "confirmed": float(np.median(conf)),
                   "better": better, "worse": worse, "p": wilcoxon_p(conf, plain)}
            table.append(row)
            lines.append(f"| {problem} | {rule} | {frac} | {len(seeds)} | "
                         f"{row['plain']:.2f} | {row['cut']:.2f} | {row['confirmed']:.2f} | "
                         f"{better} / {worse} | {row['p']:.2g} |")
    base = os.path.splitext(path)[0]
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(base + ".json", "w") as f:
        json.dump(table, f, indent=1)
        f.write("\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.path.join(ROOT, "build/server/lago-server"))
    parser.add_argument("--problems", nargs="+", default=list(NOISE), choices=list(NOISE))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--frac", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--rule", choices=["min", "lcb"], default="min")
    parser.add_argument("--out", default=os.path.join(HERE, "confirm_noise.jsonl"))
    parser.add_argument("--summarize", action="store_true",
                        help="write the Markdown and JSON summary of --out and exit")
    args = parser.parse_args()
    if args.summarize:
        summarize(args.out)
        return
    sys.path.insert(0, os.path.join(ROOT, "build/python"))
    import lago
    done = done_runs(args.out, ("problem", "seed", "frac", "rule"))
    # A plain run does not depend on the rule: it is recorded under `min`.
    rules = {frac: ("min" if frac == 0.0 else args.rule) for frac in args.frac}
    with tempfile.TemporaryDirectory() as tmp:
        proc, address = start_server(args.server, tmp)
        try:
            with lago.Client(address, timeout=600) as client:
                for name in args.problems:
                    base, sigma, _ = NOISE[name]
                    problem = PROBLEMS[base]
                    budget = 20 * problem.dim
                    for seed in range(args.seeds):
                        for frac in args.frac:
                            rule = rules[frac]
                            if (name, seed, frac, rule) in done:
                                continue
                            noisy = Noisy(problem, sigma, seed, budget)
                            cut = int(round(frac * budget))
                            record = run(client, name, problem, noisy, seed, cut, rule)
                            record.update(problem=name, seed=seed, frac=frac, rule=rule)
                            with open(args.out, "a") as f:
                                f.write(json.dumps(record) + "\n")
                            print(f"{name} seed {seed} frac {frac} {rule}: log10 regret "
                                  f"{math.log10(record['regret']):.2f}", flush=True)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
