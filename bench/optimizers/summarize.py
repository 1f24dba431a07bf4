#!/usr/bin/python3
"""Tables and convergence plots from bench/optimizers/runs.jsonl.

    /usr/bin/python3 bench/optimizers/summarize.py bench/optimizers/runs.jsonl \\
        --plots bench/optimizers/plots > bench/optimizers/RESULTS_TABLES.md

For each problem and method: the number of seeds run, and the median and
quartiles of the final log10 simple regret (floored at -12). One PNG per
problem shows the median best-so-far log10 regret against the cost spent,
with the interquartile band.
"""

import argparse
import json
import os
from collections import defaultdict

import numpy as np

METHOD_ORDER = ["lago-enhanced", "lago-on-request", "lago-value-only", "bo", "trust-region",
                "sobol", "lbfgsb-multistart", "optuna-tpe", "optuna-cmaes", "sklearn-gp-ei"]
PROBLEM_ORDER = ["branin", "hartmann6", "styblinski-tang8", "levy6", "rosenbrock5", "ackley10"]


def load(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            runs[(r["problem"], r["method"])].append(r)
    return runs


def curve(records, budget, points=60):
    """Best log10 regret of each run at `points` costs from 0 to the budget."""
    grid = np.linspace(0, budget, points)
    out = []
    for r in records:
        costs = np.array([c for c, _ in r["trace"]])
        regrets = np.log10(np.maximum([g for _, g in r["trace"]], 1e-12))
        idx = np.searchsorted(costs, grid, side="right") - 1
        out.append(np.where(idx >= 0, regrets[np.maximum(idx, 0)], np.nan))
    return grid, np.array(out)


def pair_rows(problems, runs, pairs, cell):
    """Prints one table row per problem: for each (with, without) pair of
    methods, cell(final log10 regrets) of both sides, "-" where none ran."""
    for p in problems:
        cells = []
        for pair in pairs:
            got = []
            for m in pair:
                v = [r["log10_regret"] for r in runs.get((p, m), [])]
                got.append(cell(v) if v else "-")
            cells.append(" / ".join(got))
        print(f"| {p} | " + " | ".join(cells) + " |")


# Medians of log10 regret closer than this count as equal in the goal lines.
TIE = 0.005


def quartiles(v):
    """Median [first, third quartile] of the final log10 regrets v."""
    return f"{np.median(v):.2f} [{np.percentile(v, 25):.2f}, {np.percentile(v, 75):.2f}]"


def quartile_table(problems, runs, title, pairs, names, sides="1 / 0"):
    """Prints a table of median [first, third quartile] final log10 regret,
    one column per (with, without) pair of methods, headed "name: 1 / 0"
    (or the two option values in `sides`)."""
    print(f"\n{title}\n")
    print("| problem | " + " | ".join(f"{n}: {sides}" for n in names) + " |")
    print("|---|" + "---|" * len(pairs))
    pair_rows(problems, runs, pairs, quartiles)


def median_rows(problems, runs, cols):
    """Prints one table row per problem: the median final log10 regret and
    the number of seeds of each method in `cols`, "-" where none ran."""
    for p in problems:
        cells = []
        for m in cols:
            rs = runs.get((p, m), [])
            cells.append(f"{np.median([r['log10_regret'] for r in rs]):.2f} (n={len(rs)})"
                         if rs else "-")
        print(f"| {p} | " + " | ".join(cells) + " |")


def better_worse_table(problems, runs, title, pairs, names):
    """Prints, per problem and (with, without) pair of methods, how many seeds
    ended better / worse with than without (the same seed, final log10
    regret), and the totals over the problems."""
    print(f"\n{title}\n")
    print("| problem | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(pairs))
    totals = [[0, 0] for _ in pairs]
    for p in problems:
        cells = []
        for i, (new, old) in enumerate(pairs):
            a = {r["seed"]: r["log10_regret"] for r in runs.get((p, new), [])}
            b = {r["seed"]: r["log10_regret"] for r in runs.get((p, old), [])}
            both = set(a) & set(b)
            better = sum(a[k] < b[k] - 1e-9 for k in both)
            worse = sum(a[k] > b[k] + 1e-9 for k in both)
            totals[i][0] += better
            totals[i][1] += worse
            cells.append(f"{better} / {worse}" if both else "-")
        print(f"| {p} | " + " | ".join(cells) + " |")
    print("| all | " + " | ".join(f"{b} / {w}" for b, w in totals) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs")
    parser.add_argument("--plots", help="folder for one PNG per problem")
    args = parser.parse_args()
    runs = load(args.runs)
    problems = [p for p in PROBLEM_ORDER if any(k[0] == p for k in runs)]
    methods = [m for m in METHOD_ORDER if any(k[1] == m for k in runs)]

    lines = ["| problem | " + " | ".join(methods) + " |",
             "|---|" + "---|" * len(methods)]
    medians = {}
    for p in problems:
        cells = []
        for m in methods:
            rs = runs.get((p, m), [])
            if not rs:
                cells.append("-")
                continue
            v = np.array([r["log10_regret"] for r in rs])
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            medians[(p, m)] = (med, len(rs))
            cells.append(f"{med:.2f} [{q1:.2f}, {q3:.2f}] (n={len(rs)})")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    print("Final log10 simple regret: median [first quartile, third quartile] (seeds), "
          "floored at -12; lower is better.\n")
    print("\n".join(lines))

    print("\nGoals (gradient-enhanced lago):\n")
    wins, complete, lago_wins = 0, 0, []
    for p in problems:
        row = {m: medians[(p, m)] for m in methods if (p, m) in medians}
        if "lago-enhanced" not in row:
            continue
        full = all(n >= 20 for _, n in row.values()) and len(row) == len(methods)
        complete += full
        best = min(med for med, _ in row.values())
        lago = row["lago-enhanced"][0]
        is_best = lago <= best + TIE
        wins += is_best and full
        # The same question for lago in whichever of its three modes did best.
        modes = [m for m in ("lago-enhanced", "lago-on-request", "lago-value-only")
                 if m in row]
        if full and min(row[m][0] for m in modes) <= best + TIE:
            lago_wins.append(p)
        lbfgs = row.get("lbfgsb-multistart", (None,))[0]
        vs = "" if lbfgs is None else (f"; L-BFGS-B multistart {lbfgs:.2f}: lago is "
                                       f"{'not worse' if lago <= lbfgs + TIE else 'WORSE'}")
        print(f"- {p}: lago-enhanced median {lago:.2f}, best of all methods {best:.2f} "
              f"({'best' if is_best else 'not best'}){vs}"
              f"{'' if full else ' (incomplete: fewer than 20 seeds or methods missing)'}")
    print(f"\nlago-enhanced has the best median on {wins} of {complete} complete problems "
          f"(goal: at least 5 of 6). Medians within {TIE} decades, the precision of the "
          "tables, count as equal: runs that end in the same local minimum differ in the "
          "last digits of its value.")
    print(f"\nlago in any of its three modes has the best median on {len(lago_wins)} of "
          f"{complete} ({', '.join(lago_wins)}).")

    # At equal evaluations: gradient-enhanced lago pays two cost units for
    # each evaluation, so within the budget it makes half as many as a method
    # of values only. The value-only methods read at half the budget have made
    # as many.
    value_only = [m for m in ("lago-value-only", "sobol", "optuna-tpe", "optuna-cmaes",
                              "sklearn-gp-ei") if m in methods]
    if "lago-enhanced" in methods and value_only:
        print("\nAt equal evaluations: median final log10 regret of gradient-enhanced lago "
              "(a value and its gradient cost 2) against the methods of values only after "
              "half the budget, when they have made as many evaluations.\n")
        print("| problem | evaluations | lago-enhanced | " +
              " | ".join(f"{m} at half" for m in value_only) + " | lowest |")
        print("|---|---|---|" + "---|" * (len(value_only) + 1))
        for p in problems:
            rs = runs.get((p, "lago-enhanced"), [])
            if not rs:
                continue
            budget = rs[0]["budget"]
            cells = {"lago-enhanced": np.median([r["log10_regret"] for r in rs])}
            for m in value_only:
                if runs.get((p, m)):
                    # The grid 0, budget / 2, budget: column 1 is at half.
                    cells[m] = np.nanmedian(curve(runs[(p, m)], budget, points=3)[1][:, 1])
            best = min(cells, key=cells.get)
            print(f"| {p} | {budget / 2:.0f} | " +
                  " | ".join(f"{cells[m]:.2f}" if m in cells else "-"
                             for m in ["lago-enhanced"] + value_only) + f" | {best} |")

    # The quadratic trend (trend = quadratic, the default): the rows with it /
    # the same code's rows with a constant prior mean (-t0, renamed when the
    # default changed).
    names = [m for m in ("lago-enhanced", "lago-on-request", "lago-value-only", "bo",
                         "trust-region") if any(k[1] == m + "-t0" for k in runs)]
    pairs = [(m, m + "-t0") for m in names]
    if pairs:
        quartile_table(problems, runs,
                       "The quadratic trend: median [first, third quartile] final log10 "
                       "regret with trend = quadratic (the default) / constant.", pairs, names,
                       sides="quadratic / constant")
        better_worse_table(problems, runs,
                           "Seeds better / worse with the quadratic trend than with a "
                           "constant prior mean (the same seed, final log10 regret):",
                           pairs, names)

    # The trend away from the centre: Levy and Ackley moved so that their
    # minimisers lie away from the box's centre (problems.py, SHIFTED).
    shifted = [p for p in ("levy6", "levy6-shifted", "ackley10", "ackley10-shifted")
               if any(k[0] == p for k in runs)]
    if any(p.endswith("-shifted") for p in shifted):
        cols = [m for m in ("lago-enhanced", "lago-enhanced-t0", "lago-on-request",
                            "lago-on-request-t0", "lago-value-only", "lago-value-only-t0",
                            "bo", "optuna-cmaes", "optuna-tpe", "lbfgsb-multistart")
                if any(k == (p, m) for p in shifted for k in runs)]
        print("\nAway from the centre: median [first, third quartile] final log10 regret "
              "on Levy and Ackley and on the same problems shifted so that their "
              "minimisers lie away from the box's centre (-t0: trend = constant).\n")
        print("| method | " + " | ".join(shifted) + " |")
        print("|---|" + "---|" * len(shifted))
        for m in cols:
            cells = []
            for p in shifted:
                v = [r["log10_regret"] for r in runs.get((p, m), [])]
                cells.append(quartiles(v) if v else "-")
            print(f"| {m} | " + " | ".join(cells) + " |")
        pairs = [(m, m + "-t0") for m in ("lago-enhanced", "lago-on-request",
                                          "lago-value-only") if m + "-t0" in cols]
        better_worse_table([p for p in shifted if p.endswith("-shifted")], runs,
                           "Seeds better / worse with the quadratic trend than with a "
                           "constant prior mean on the shifted problems:", pairs,
                           [m for m, _ in pairs])

    # The competition rule: keep_local (the default) against the authors' rule.
    # Both with the authors' 5d design and without restarts (the -k0 runs
    # predate them), so that only the rule differs.
    pairs = [("lago-enhanced-init5d" if m == "lago-enhanced" else m + "-r0", m + "-k0")
             for m in ("lago-enhanced", "lago-on-request", "lago-value-only")
             if any(k[1] == m + "-k0" for k in runs)]
    if pairs:
        print("\nThe competition rule: median final log10 regret with keep_local = 1 (the "
              "default) / keep_local = 0 (the authors' rule: EI(x_G) > gamma I decides every "
              "step).\n")
        print("| problem | " + " | ".join(f"{old[:-3]}: 1 / 0" for _, old in pairs) + " |")
        print("|---|" + "---|" * len(pairs))
        pair_rows(problems, runs, pairs, lambda v: f"{np.median(v):.2f}")

    def has(m):
        return any(k[1] == m for k in runs)

    def older(m, suffix="-ru0"):
        """m's runs from before a default changed (m + suffix, renamed when it
        changed) where they exist, else those from before rank updates
        (m-ru0, the latest such rename), else m: an ablation is compared with
        the default runs of its own day, so that one option differs."""
        return next((c for c in (m + suffix, m + "-ru0") if has(c)), m)

    def f2e(m):
        """m's runs made at f2e589e (m-f2e, renamed when the rows were run
        again at 7039e02), else m: the sections written against them keep
        comparing with them."""
        return m + "-f2e" if has(m + "-f2e") else m

    # The add's solve by panels (a3a72a5), which moves results only by
    # rounding: the five server rows run again with it (at f2e589e) / the
    # same rows before it (-ps0, the runs of rank updates' day).
    names = [m for m in ("lago-enhanced", "lago-on-request", "lago-value-only", "bo",
                         "trust-region") if has(m + "-ps0")]
    pairs = [(f2e(m), m + "-ps0") for m in names]
    if pairs:
        quartile_table(problems, runs,
                       "The add's solve by panels: median [first, third quartile] final "
                       "log10 regret of the same defaults with the current code / the code "
                       "before a3a72a5.", pairs, names, sides="now / before")
        better_worse_table(problems, runs,
                           "Seeds better / worse now than before a3a72a5 (the same seed, "
                           "final log10 regret):", pairs, names)

    # Rank updates between refits (rank_update, the default): the -ru0 runs
    # are the defaults of the day before, which refactorised at every
    # suggestion; the rank-update side is the runs of the same day (-ps0
    # where the rows were run again since).
    names = [m for m in ("lago-enhanced", "lago-on-request", "lago-value-only", "bo",
                         "trust-region") if has(m + "-ru0")]
    pairs = [(m + "-ps0" if has(m + "-ps0") else m, m + "-ru0") for m in names]
    if pairs:
        quartile_table(problems, runs,
                       "Rank updates: median [first, third quartile] final log10 regret with "
                       "rank_update = 1 (the default) / 0 (refactorising at every "
                       "suggestion).", pairs, names)
        better_worse_table(problems, runs,
                           "Seeds better / worse with rank_update = 1 than with 0 (the same "
                           "seed, final log10 regret):", pairs, names)

    # EI credit: the default with gradients at every point (-cr0 without it),
    # off on request (-cr1 with it). Both sides are runs of the same code.
    credit = [(m, a, b) for m, a, b in (
        ("lago-enhanced", older("lago-enhanced"), "lago-enhanced-cr0"),
        ("lago-on-request", "lago-on-request-cr1", older("lago-on-request")))
              if any(k[1] == a for k in runs) and any(k[1] == b for k in runs)]
    pairs = [(a, b) for _, a, b in credit]
    if pairs:
        names = [m for m, _, _ in credit]
        quartile_table(problems, runs,
                       "EI credit: median [first, third quartile] final log10 regret with "
                       "ei_credit = 1 / 0 (the default is 1 with gradients at every point, "
                       "0 otherwise).", pairs, names)
        better_worse_table(problems, runs,
                           "Seeds better / worse with ei_credit = 1 than with 0 (the same "
                           "seed, final log10 regret):", pairs, names)

    # gamma with EI credit (the -gamma3 rows of the main ablations predate it):
    # the same code, gamma = 3 and 10 against the default 1.
    pairs = [(m, older("lago-enhanced")) for m in ("lago-enhanced-gamma3-credit",
                                            "lago-enhanced-gamma10-credit")
             if any(k[1] == m for k in runs)]
    if pairs:
        names = [f"gamma = {m.split('gamma')[1].split('-')[0]}" for m, _ in pairs]
        quartile_table(problems, runs,
                       "gamma with EI credit, gradient-enhanced lago: median [first, third "
                       "quartile] final log10 regret with gamma = 3 or 10 / 1 (the default).",
                       pairs, names, sides="gamma / 1")
        better_worse_table(problems, runs,
                           "Seeds better / worse with gamma = 3 or 10 than with 1 (the same "
                           "seed, final log10 regret):", pairs, names)

    # The same defaults before and after the changes of e00bf7e to c022184
    # (dpotri, dtrsv, one OpenBLAS thread): -e00 are the runs before them,
    # against which the ablations of their day are compared.
    pairs = [(a, b) for a, b in (("lago-enhanced-cr0", "lago-enhanced-e00"),
                                 (older("lago-on-request"), "lago-on-request-e00"))
             if any(k[1] == a for k in runs) and any(k[1] == b for k in runs)]
    if pairs:
        names = [b[:-4] for _, b in pairs]
        quartile_table(problems, runs,
                       "The same options with the current code / the code before e00bf7e: "
                       "median [first, third quartile] final log10 regret.", pairs, names,
                       sides="now / before")
        better_worse_table(problems, runs,
                           "Seeds better / worse now than before e00bf7e (the same seed, final "
                           "log10 regret):", pairs, names)

    # Refitting as the model grows: the default (-rg0 without it, the runs of
    # the day before it).
    names = [m for m in ("lago-enhanced", "lago-on-request", "lago-value-only", "bo",
                         "trust-region") if any(k[1] == m + "-rg0" for k in runs)]
    pairs = [(older(m, "-e00"), m + "-rg0") for m in names]
    if pairs:
        quartile_table(problems, runs,
                       "Refitting as the model grows: median [first, third quartile] final "
                       "log10 regret with refit_growth = 0.1 (the default) / 0 (every 10 "
                       "suggestions only).",
                       pairs, names)
        better_worse_table(problems, runs,
                           "Seeds better / worse with refit_growth = 0.1 than with 0 (the "
                           "same seed, final log10 regret):", pairs, names)

    # The model check: the default in the gradient modes (-mc0 without it,
    # the runs of the day before it).
    pairs = [(older(m, "-rg0"), m + "-mc0")
             for m in ("lago-enhanced", "lago-on-request", "trust-region")
             if any(k[1] == m + "-mc0" for k in runs)]
    if pairs:
        quartile_table(problems, runs,
                       "The model check: median [first, third quartile] final log10 regret "
                       "with model_check = 1 (the default with gradients) / model_check = 0, "
                       "both with refit_growth = 0.",
                       pairs, [a.replace("-rg0", "") for a, _ in pairs])

    # A fitted gradient noise (off by default): the -gn runs against the
    # default.
    pairs = [(m + "-gn", older(m, "-rg0")) for m in ("lago-enhanced", "lago-on-request")
             if any(k[1] == m + "-gn" for k in runs)]
    if pairs:
        quartile_table(problems, runs,
                       "Gradient noise: median [first, third quartile] final log10 regret "
                       "with gradient_noise = 1 / 0 (the default), both with refit_growth = 0.",
                       pairs, [m.replace("-rg0", "") for _, m in pairs])

    # How B learns (update): SR1, the default, against limited-memory BFGS:
    # the -lbfgs runs against the defaults of their day, and the -lbfgs-ec
    # runs against today's (EI credit with gradients).
    for suffix, base, title, seeds, today in (
            ("-lbfgs", lambda m: older(m, "-e00"), "", "", ""),
            ("-lbfgs-ec", f2e, " with EI credit", ", with EI credit",
             ", both with today's defaults")):
        names = [m for m in ("lago-enhanced", "lago-on-request", "trust-region")
                 if has(m + suffix)]
        pairs = [(m + suffix, base(m)) for m in names]
        if pairs:
            quartile_table(problems, runs,
                           f"How B learns{title}: median [first, third quartile] final "
                           f"log10 regret with update = lbfgs / sr1 (the default){today}.",
                           pairs, names, sides="lbfgs / sr1")
            better_worse_table(problems, runs,
                               f"Seeds better / worse with update = lbfgs than with sr1"
                               f"{seeds} (the same seed, final "
                               "log10 regret):", pairs, names)

    # A lower bound (off by default): the strategy works on log(f - L + C).
    names = [m for m in ("lago-enhanced", "lago-on-request")
             if any(k[1] == m + "-lb" for k in runs)]
    pairs = [(m + "-lb", older(m, "-e00")) for m in names]
    if pairs:
        quartile_table(problems, runs,
                       "A lower bound: median [first, third quartile] final log10 regret "
                       "with lower_bound = the bound of problems.py / none (the default).",
                       pairs, names, sides="bound / none")
        better_worse_table(problems, runs,
                           "Seeds better / worse with the lower bound than without (the same "
                           "seed, final log10 regret):", pairs, names)
    # The same warp applied by the client with the known minimum and a fixed
    # offset C (lago-enhanced-log<C>): how much the offset matters.
    warps = sorted((m for m in {k[1] for k in runs} if m.startswith("lago-enhanced-log")),
                   key=lambda m: float(m[len("lago-enhanced-log"):]))
    if warps:
        print("\nThe warp applied by the client, gradient-enhanced lago: median final log10 "
              "regret (seeds) on log(f - f* + C) for fixed C, against no warp and the "
              "lower_bound option.\n")
        cols = ([older("lago-enhanced", "-e00")] + warps +
                (["lago-enhanced-lb"] if pairs else []))
        print("| problem | none | " + " | ".join(f"C = {m[len('lago-enhanced-log'):]}"
                                                for m in warps) +
              (" | lower_bound |" if pairs else " |"))
        print("|---|" + "---|" * len(cols))
        median_rows(problems, runs, cols)

    # Calibrated EI: the default in the gradient modes (-c0 without it); in
    # value-only mode it is off (-c1 with it). Both sides without the model
    # check (-mc0) where those runs exist, since the -c0 runs predate it.
    pairs = [(older(m, "-mc0"), m + "-c0") for m in ("lago-enhanced", "lago-on-request")
             if any(k[1] == m + "-c0" for k in runs)]
    if any(k[1] == "lago-value-only-c1" for k in runs):
        pairs.append(("lago-value-only-c1", older("lago-value-only", "-rg0")))
    if pairs:
        quartile_table(problems, runs,
                       "Calibrated EI: median [first, third quartile] final log10 regret with "
                       "calibrate = 1 / calibrate = 0 (the defaults of the day: 1 with "
                       "gradients, 0 in value-only mode; value-only is now 1 too, section "
                       "\"Calibrated EI in value-only mode\").",
                       pairs, [a.replace("-c1", "").replace("-mc0", "") for a, _ in pairs])

    # Restarts (the default) against leaving every step after a region to EI;
    # both without calibrated EI (the -r0 runs predate it).
    pairs = [(m + "-c0" if any(k[1] == m + "-c0" for k in runs) else older(m, "-rg0"),
              m + "-r0")
             for m in ("lago-enhanced", "lago-on-request", "lago-value-only")
             if any(k[1] == m + "-r0" for k in runs)]
    if pairs:
        print("\nRestarts: median [third quartile] final log10 regret, and how many seeds "
              "end below a regret of 1e-3, with restart = 1 (the default) / restart = 0 "
              "(every step after a finished region is left to EI).\n")
        print("| problem | " + " | ".join(f"{old[:-3]}: 1 / 0" for _, old in pairs) + " |")
        print("|---|" + "---|" * len(pairs))
        pair_rows(problems, runs, pairs,
                  lambda v: f"{np.median(v):.2f} [{np.percentile(v, 75):.2f}] "
                            f"{sum(x < -3 for x in v)}/{len(v)}")

    # The initial design in gradient-enhanced mode: the default max(2d, 10)
    # against the authors' 5d and plain 3d and 2d.
    designs = [m for m in ("lago-enhanced-init5d", "lago-enhanced-init3d",
                           "lago-enhanced-init2d") if any(k[1] == m for k in runs)]
    if designs:
        print("\nThe initial design, gradient-enhanced lago: median final log10 regret "
              "(seeds) with max(2d, 10) Sobol points (the default) and with 5d (the "
              "authors'), 3d and 2d.\n")
        # The design runs predate restarts and calibrated EI: compare with the
        # default design's runs of the same time.
        base = ("lago-enhanced-r0" if any(k[1] == "lago-enhanced-r0" for k in runs)
                else "lago-enhanced")
        cols = [base] + designs
        print("| problem | max(2d, 10) | " +
              " | ".join(m.rsplit("-", 1)[1][4:] for m in designs) + " |")
        print("|---|" + "---|" * len(cols))
        median_rows(problems, runs, cols)

    if args.plots:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        os.makedirs(args.plots, exist_ok=True)
        for p in problems:
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for m in methods:
                rs = runs.get((p, m), [])
                if not rs:
                    continue
                grid, c = curve(rs, rs[0]["budget"])
                med = np.nanmedian(c, axis=0)
                lo, hi = np.nanpercentile(c, [25, 75], axis=0)
                style = "-" if m.startswith("lago") else "--"
                line, = ax.plot(grid, med, style, label=f"{m} (n={len(rs)})")
                ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.12)
            ax.set_xlabel("cost units (value 1, gradient 1)")
            ax.set_ylabel("log10 simple regret (median, IQR)")
            ax.set_title(p)
            ax.legend(fontsize=7, ncol=2)
            fig.tight_layout()
            fig.savefig(os.path.join(args.plots, f"{p}.png"), dpi=90)
            plt.close(fig)


if __name__ == "__main__":
    main()
