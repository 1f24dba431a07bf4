#!/usr/bin/python3
"""Noisy values: lago and bo with and without the `noise` option, and told
each value's noise standard deviation (`noise_std`), through a real
lago-server and the Python client, against a scikit-learn GP-EI that fits a
white noise and Optuna's TPE, on problems of problems.py whose values carry
Gaussian noise; and the same noisy values with noisy gradients.

Every evaluation returns f(x) + N(0, sigma(x)^2), with a budget of
`--budget-factor` x d cost units: a value costs 1, a value with its gradient
2. The methods `lago-grad*`, `lago-request-noise` and `bo-grad-noise` ask
for gradients (gradient modes enhanced and on_request); each coordinate i of
a gradient carries noise N(0, (TAU sigma(x) / w_i)^2), w_i the width of the
box along it, drawn from a stream of its own. The others are value-only and
are the default of `--methods`. On `branin` and `hartmann6` sigma is a
constant; on `branin-hetero` and `hartmann6-hetero` it grows along the first
coordinate (NOISE). The `*-known*` methods pass
sigma(x) with every observation; the others are told nothing. The `*-mean`
methods make lago's trust region read the posterior mean instead of the
observed values (`region_mean = 1`). lago's noisy methods set
`noise_floor = 0`, as it was before the option existed, so that their
committed runs can be made again; the `*-floor` methods keep its default (a
local step predicting less than one noise standard deviation ends the
region). A method is judged
by the true f at the point it recommends at the end, among the points it
evaluated: for the GP methods the one with the lowest posterior mean (the
server's `predict` at every evaluated point; with exact values that is the
best observed point), for TPE the best observed one. The noiseless regret
f(recommended) - f* is floored at 1e-12. Each run also records the true f at
the best observed point (what `study.best()` returns), and each line of
`--out` holds one run; runs already there are skipped.

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/optimizers/bench_noise.py \\
        --seeds 20 --out bench/optimizers/noise.jsonl
    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/optimizers/bench_noise.py \\
        --seeds 100 --methods lago lago-noise bo bo-noise lago-known bo-known \\
        lago-known-noise lago-noise-mean lago-known-mean \\
        --out bench/optimizers/noise.jsonl
    /usr/bin/python3 bench/optimizers/bench_noise.py --summarize \\
        --out bench/optimizers/noise.jsonl     # writes noise.md and noise.json
    /usr/bin/python3 bench/optimizers/bench_noise.py --seeds 100 \\
        --methods lago-noise lago-grad lago-grad-noise lago-grad-noise-gn \\
        lago-request-noise lago-request-noise-gn bo-grad-noise bo-grad-noise-gn \\
        --out bench/optimizers/noise_gradients.jsonl
    /usr/bin/python3 bench/optimizers/bench_noise.py --summarize \\
        --out bench/optimizers/noise_gradients.jsonl
    /usr/bin/python3 bench/optimizers/bench_noise.py --seeds 100 \\
        --methods lago-noise lago-noise-floor lago-known lago-known-floor \\
        bo-grad-noise-gn lago-grad-noise-gn lago-grad-noise-gn-floor \\
        lago-request-noise-gn lago-request-noise-gn-floor \\
        --out bench/optimizers/noise_floor.jsonl
    /usr/bin/python3 bench/optimizers/bench_noise.py --summarize \\
        --out bench/optimizers/noise_floor.jsonl
    # noise_nu.jsonl: the runs of lago-noise-floor, lago-known-floor,
    # lago-grad-noise-gn-floor, lago-request-noise-gn-floor and
    # bo-grad-noise-gn copied from noise_floor.jsonl, then
    /usr/bin/python3 bench/optimizers/bench_noise.py --seeds 100 \\
        --methods lago-noise-floor-nu0 lago-known-floor-nu0 \\
        lago-grad-noise-gn-floor-nu0 lago-request-noise-gn-floor-nu0 \\
        --out bench/optimizers/noise_nu.jsonl
    /usr/bin/python3 bench/optimizers/bench_noise.py --summarize \\
        --out bench/optimizers/noise_nu.jsonl
    # noise_nu_default.jsonl: from b4372ec, where noise=1 keeps the
    # minimum-distance rule from leaving any point out of the model, the
    # default methods again (equal to the -nu0 runs of noise_nu.jsonl)
    /usr/bin/python3 bench/optimizers/bench_noise.py --seeds 100 \\
        --methods lago-grad-noise-gn-floor lago-request-noise-gn-floor \\
        --out bench/optimizers/noise_nu_default.jsonl
    # noise_workers.jsonl: one worker and four, 50 seeds (two processes,
    # their files joined)
    /usr/bin/python3 bench/optimizers/bench_noise.py --seeds 50 --workers 1 \\
        --problems branin hartmann6 --out bench/optimizers/noise_workers.jsonl \\
        --methods lago-noise-floor lago-grad-noise-gn-floor bo-grad-noise-gn
    # ... and the same with --workers 4, then
    /usr/bin/python3 bench/optimizers/bench_noise.py --summarize \\
        --out bench/optimizers/noise_workers.jsonl
    # noise_calibrate.jsonl: value-only with calibrated EI, made at fd0a1bf,
    # before it became the default of value-only studies without noise=1
    # (so from then on lago-known-floor does what -c1 did); two processes
    /usr/bin/python3 bench/optimizers/bench_noise.py --seeds 100 \\
        --methods lago-noise-floor lago-noise-floor-c1 --out a.jsonl
    /usr/bin/python3 bench/optimizers/bench_noise.py --seeds 100 \\
        --methods lago-known-floor lago-known-floor-c1 --out b.jsonl
    cat a.jsonl b.jsonl > bench/optimizers/noise_calibrate.jsonl
    /usr/bin/python3 bench/optimizers/bench_noise.py --summarize \\
        --out bench/optimizers/noise_calibrate.jsonl
    # noise_trend.jsonl: the quadratic trend against a constant prior mean,
    # 20 seeds, on a 2-core AMD EPYC without AVX-512 (made at 8f706a4, where
    # lago-noise-floor had the trend: its runs were renamed -tq when
    # value-only studies with noise=1 went back to a constant)
    /usr/bin/python3 bench/optimizers/bench_noise.py --seeds 20 \\
        --methods lago-noise-floor-tq lago-noise-floor-t0 lago-known-floor \\
        lago-known-floor-t0 lago-grad-noise-gn-floor lago-grad-noise-gn-floor-t0 \\
        lago-request-noise-gn-floor lago-request-noise-gn-floor-t0 \\
        --out bench/optimizers/noise_trend.jsonl
    /usr/bin/python3 bench/optimizers/bench_noise.py --summarize \\
        --out bench/optimizers/noise_trend.jsonl

With `--workers W` the server's methods run in rounds: each of W workers
asks for a trial (with its own client id, while the others' trials are
pending, so the model holds them as believers), then all evaluate and tell.
The runs are named `<method>-w<W>`, and the summary pairs each with the
method's runs with one worker.

The server it starts inherits the environment: the value-only runs committed
set `OPENBLAS_CORETYPE=SkylakeX` on an AVX-512 machine, as the other
optimiser benchmarks do; the runs with gradients ran on a CPU without AVX-512
with OpenBLAS's own choice of kernels, and so did those of noise_floor.jsonl
(as two processes, split by method).
"""

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_optimizers import next_trial, start_server  # noqa: E402
from problems import PROBLEMS  # noqa: E402

# Noise standard deviations: about 1/30 of the spread of each problem's values
# over its box, so that the noise hides the last steps toward the minimum but
# not the shape of the function. The heteroscedastic problems: from 0.5 to 8
# on Branin (0.5 at x1 = -5, 8 at x1 = 10; its three minima see about 1.4,
# 4.6 and 7.7), from 0.01 to 0.31 on Hartmann6 (0.07 at its minimum).
# problem: (function of problems.py, sigma(x) of the point in its units, label)
NOISE = {
    "branin": ("branin", lambda x: 2.0, "2"),
    "hartmann6": ("hartmann6", lambda x: 0.1, "0.1"),
    "branin-hetero": ("branin", lambda x: 0.5 + 7.5 * (x[0] + 5.0) / 15.0,
                      "0.5 + 7.5 (x1 + 5) / 15"),
    "hartmann6-hetero": ("hartmann6", lambda x: 0.01 + 0.3 * x[0], "0.01 + 0.3 x1"),
}

# The standard deviation of the noise on each coordinate of a gradient, for
# the methods that ask for gradients: TAU / width of the box along it times
# sigma(x), so that over a tenth of the box's width the gradient's noise moves
# a linear model about as much as the value's noise does.
TAU = 10.0

# lago's noisy methods from before noise_floor (1 by default) turn it off, so
# that their committed runs stay reproducible; the `-floor` methods keep it.
NO_FLOOR = {"noise_floor": "0"}

# method: (strategy, options, whether each observation is told its noise's
# standard deviation, gradient mode) for the server's methods.
SERVER_METHODS = {
    "lago": ("lago", {}, False, "none"),
    "lago-noise": ("lago", {"noise": "1", **NO_FLOOR}, False, "none"),
    "bo": ("bo", {}, False, "none"),
    "bo-noise": ("bo", {"noise": "1"}, False, "none"),
    "lago-known": ("lago", {**NO_FLOOR}, True, "none"),
    "bo-known": ("bo", {}, True, "none"),
    "lago-known-noise": ("lago", {"noise": "1", **NO_FLOOR}, True, "none"),
    # The trust region reading the posterior mean instead of observed values.
    "lago-noise-mean": ("lago", {"noise": "1", "region_mean": "1", **NO_FLOOR}, False,
                        "none"),
    "lago-known-mean": ("lago", {"region_mean": "1", **NO_FLOOR}, True, "none"),
    # Noisy values and noisy gradients (--out noise_gradients.jsonl). The
    # `-gn` methods also fit a gradient noise, which noise=1 does by default
    # in a gradient mode; the others turn it off.
    "lago-grad": ("lago", {}, False, "enhanced"),
    "lago-grad-noise": ("lago", {"noise": "1", "gradient_noise": "0", **NO_FLOOR}, False,
                        "enhanced"),
    "lago-grad-noise-gn": ("lago", {"noise": "1", "gradient_noise": "1", **NO_FLOOR},
                           False, "enhanced"),
    "lago-request-noise": ("lago", {"noise": "1", "gradient_noise": "0", **NO_FLOOR},
                           False, "on_request"),
    "lago-request-noise-gn": ("lago", {"noise": "1", "gradient_noise": "1", **NO_FLOOR},
                              False, "on_request"),
    "bo-grad-noise": ("bo", {"noise": "1", "gradient_noise": "0"}, False, "enhanced"),
    "bo-grad-noise-gn": ("bo", {"noise": "1", "gradient_noise": "1"}, False, "enhanced"),
    # With the noise floor, the default (--out noise_floor.jsonl).
    "lago-noise-floor": ("lago", {"noise": "1"}, False, "none"),
    "lago-known-floor": ("lago", {}, True, "none"),
    "lago-grad-noise-gn-floor": ("lago", {"noise": "1", "gradient_noise": "1"}, False,
                                 "enhanced"),
    "lago-request-noise-gn-floor": ("lago", {"noise": "1", "gradient_noise": "1"}, False,
                                    "on_request"),
    # The floor's methods with every local point in the model (`nu = 0`: no
    # minimum distance between local points; --out noise_nu.jsonl).
    "lago-noise-floor-nu0": ("lago", {"noise": "1", "nu": "0"}, False, "none"),
    "lago-known-floor-nu0": ("lago", {"nu": "0"}, True, "none"),
    "lago-grad-noise-gn-floor-nu0": ("lago", {"noise": "1", "gradient_noise": "1",
                                              "nu": "0"}, False, "enhanced"),
    "lago-request-noise-gn-floor-nu0": ("lago", {"noise": "1", "gradient_noise": "1",
                                                 "nu": "0"}, False, "on_request"),
    # The defaults with a constant prior mean, as before the quadratic trend
    # became the default in every mode, and (-tq) value-only noise = 1 with
    # the quadratic trend, which it does not have by default (--out
    # noise_trend.jsonl).
    "lago-noise-floor-t0": ("lago", {"noise": "1", "trend": "constant"}, False, "none"),
    "lago-noise-floor-tq": ("lago", {"noise": "1", "trend": "quadratic"}, False, "none"),
    "lago-known-floor-t0": ("lago", {"trend": "constant"}, True, "none"),
    "lago-grad-noise-gn-floor-t0": ("lago", {"noise": "1", "gradient_noise": "1",
                                             "trend": "constant"}, False, "enhanced"),
    "lago-request-noise-gn-floor-t0": ("lago", {"noise": "1", "gradient_noise": "1",
                                                "trend": "constant"}, False, "on_request"),
    # Value-only with calibrated EI (--out noise_calibrate.jsonl).
    "lago-noise-floor-c1": ("lago", {"noise": "1", "calibrate": "1"}, False, "none"),
    "lago-known-floor-c1": ("lago", {"calibrate": "1"}, True, "none"),
}
ALL_METHODS = list(SERVER_METHODS) + ["sklearn-gp-ei-noise", "optuna-tpe"]
VALUE_ONLY_METHODS = [m for m in ALL_METHODS
                      if m not in SERVER_METHODS or SERVER_METHODS[m][3] == "none"]


class Noisy:
    """The noisy objective: every call draws fresh noise from its own stream.
    A value costs 1 unit of the budget, a value with its gradient 2."""

    def __init__(self, problem, sigma, seed, budget):
        # sigma(x): the noise standard deviation at x.
        self.problem, self.sigma, self.budget = problem, sigma, budget
        self.rng = np.random.default_rng([seed, 7])
        # The gradients' noise has a stream of its own, so that the values'
        # draws are those of a value-only run.
        self.gradient_rng = np.random.default_rng([seed, 8])
        self.width = np.array([hi - lo for lo, hi in problem.bounds])
        self.points, self.observed = [], []
        self.cost = 0

    def __call__(self, x):
        return self.evaluate(x, gradient=False)[0]

    def evaluate(self, x, gradient):
        """(value, gradient or None), both with noise."""
        cost = 2 if gradient else 1
        if self.cost + cost > self.budget:
            raise StopIteration
        f, g = self.problem(x)
        sigma = self.sigma(x)
        value = f + sigma * self.rng.standard_normal()
        if gradient:
            g = np.asarray(g, dtype=float) + TAU * sigma / self.width * \
                self.gradient_rng.standard_normal(len(self.width))
        self.cost += cost
        self.points.append(np.asarray(x, dtype=float))
        self.observed.append(value)
        return value, (list(g) if gradient else None)

    def true(self, x):
        return self.problem(x)[0]

    def regret(self, x):
        return max(self.true(x) - self.problem.minimum, 1e-12)


def run_server(name, method, problem, noisy, seed, address, workers=1):
    import lago
    strategy, options, told, mode = SERVER_METHODS[method]
    with lago.Client(address, timeout=600) as client:
        study = client.create_study(
            f"{name}-{label(method, workers)}-{seed}",
            [(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(problem.bounds)],
            strategy=strategy, gradient_mode=mode, seed=seed, budget=noisy.budget,
            strategy_options=options)
        # Rounds: each of the workers asks while the others' trials are
        # pending (one worker: one trial at a time), then all evaluate and
        # tell. No trial is asked for that the budget cannot pay for.
        while noisy.cost < noisy.budget:
            planned, trials = noisy.cost, []
            for w in range(workers):
                if planned + 1 > noisy.budget:
                    break
                trial = next_trial(study, f"worker-{w}" if workers > 1 else "")
                if trial is None:
                    break
                # A gradient the budget cannot pay for is not evaluated.
                want = trial.need_gradient and planned + 2 <= noisy.budget
                planned += 2 if want else 1
                trials.append((trial, want))
            if not trials:
                break
            for trial, want in trials:
                value, gradient = noisy.evaluate(trial.x, want)
                known = noisy.sigma(trial.x) if told else None
                study.observe(trial, value, gradient=gradient, noise_std=known)
        means = study.predict([list(x) for x in noisy.points]).mean
    return noisy.points[int(np.argmin(means))]


def label(method, workers):
    """A method's name in the runs: with several workers, `<method>-w<workers>`."""
    return method if workers == 1 else f"{method}-w{workers}"


def run_sklearn(problem, noisy, seed):
    warnings.filterwarnings("ignore")  # Fitted bounds reached, as for a flat axis.
    from scipy.stats import norm, qmc
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    rng = np.random.default_rng(seed)
    lo = np.array([b[0] for b in problem.bounds])
    hi = np.array([b[1] for b in problem.bounds])
    d = problem.dim
    us = list(qmc.Sobol(d, seed=seed).random(min(5 * d, noisy.budget)))
    for u in us:
        noisy(lo + (hi - lo) * u)
    gp = None
    while True:
        kernel = ConstantKernel(1.0) * Matern(length_scale=np.full(d, 0.3), nu=2.5,
                                              length_scale_bounds=(1e-3, 1e2)) + \
            WhiteKernel(1e-2, noise_level_bounds=(1e-8, 1e1))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, alpha=1e-8,
                                      n_restarts_optimizer=2, random_state=seed)
        gp.fit(np.array(us), np.array(noisy.observed))
        if noisy.cost >= noisy.budget:
            break
        # EI of the latent f against the lowest posterior mean at the points
        # evaluated (the white noise is part of the fitted kernel, so the
        # predictions below include it in sd; it is taken out).
        white = gp.kernel_.k2.noise_level * gp._y_train_std ** 2
        best = gp.predict(np.array(us)).min()
        candidates = rng.random((4000, d))
        mu, sd = gp.predict(candidates, return_std=True)
        sd = np.sqrt(np.maximum(sd ** 2 - white, 1e-24))
        z = (best - mu) / sd
        ei = (best - mu) * norm.cdf(z) + sd * norm.pdf(z)
        u = candidates[int(np.argmax(ei))]
        noisy(lo + (hi - lo) * u)
        us.append(u)
    return noisy.points[int(np.argmin(gp.predict(np.array(us))))]


def run_tpe(problem, noisy, seed):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda t: noisy([t.suggest_float(f"x{i}", lo, hi)
                                    for i, (lo, hi) in enumerate(problem.bounds)]),
                   n_trials=noisy.budget)
    return noisy.points[int(np.argmin(noisy.observed))]


def done_runs(path, fields):
    """The runs already in `path` (one JSON object a line), each as the tuple
    of its `fields`: a runner skips them."""
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {tuple(json.loads(line)[k] for k in fields) for line in f}


def summarize(path):
    runs = [json.loads(line) for line in open(path)]
    problems = [p for p in NOISE if any(r["problem"] == p for r in runs)]
    present = {r["method"] for r in runs}
    methods = [m for base in ALL_METHODS
               for m in [base] + sorted((x for x in present if x.startswith(base + "-w")
                                         and x[len(base) + 2:].isdigit()),
                                        key=lambda x: int(x[len(base) + 2:]))
               if m in present]

    summary = {"sigma": {p: NOISE[p][2] for p in problems}, "log10_regret": {}, "pairs": {}}

    def cell(problem, method, key, table, seeds):
        vals = sorted(math.log10(r[key]) for r in runs
                      if r["problem"] == problem and r["method"] == method
                      and r["seed"] < seeds)
        if not vals:
            return "-"
        q = statistics.quantiles(vals, n=4) if len(vals) > 1 else vals * 3
        summary[table].setdefault(key, {}).setdefault(problem, {})[method] = {
            "median": statistics.median(vals), "q1": q[0], "q3": q[2], "n": len(vals)}
        return f"{statistics.median(vals):.2f} [{q[0]:.2f}, {q[2]:.2f}] (n={len(vals)})"

    gradients = any(m in SERVER_METHODS and SERVER_METHODS[m][3] != "none"
                    for m in methods)
    lines = [f"# Noisy values{' and gradients' if gradients else ''}: results", "",
             f"Written by `bench_noise.py --summarize` from `{os.path.basename(path)}`; "
             "the command and the set-up are in the script's docstring.", ""]
    # Every seed each method ran, then the first 20, which every method ran.
    for key, title, table, seeds in (
            ("regret", "Log10 regret of the recommended point", "log10_regret", 10 ** 9),
            ("regret", "Log10 regret of the recommended point, seeds 0 to 19",
             "log10_regret_first_20", 20),
            ("regret_best_observed", "Log10 regret of the best observed point",
             "log10_regret", 10 ** 9)):
        summary.setdefault(table, {})
        lines += [f"## {title}", "",
                  "Median [first, third quartile] (seeds) of log10(f(x) - f*), f the "
                  "noiseless function; lower is better.", "",
                  "| problem (sigma) | " + " | ".join(methods) + " |",
                  "|---" * (len(methods) + 1) + "|"]
        for p in problems:
            lines.append(f"| {p} ({NOISE[p][2]}) | " +
                         " | ".join(cell(p, m, key, table, seeds) for m in methods) + " |")
        lines.append("")
    pairs = [("lago-noise", "lago"), ("bo-noise", "bo"), ("lago-known", "lago"),
             ("lago-known", "lago-noise"), ("bo-known", "bo"), ("bo-known", "bo-noise"),
             ("lago-known-noise", "lago-known"), ("lago-noise-mean", "lago-noise"),
             ("lago-known-mean", "lago-known"),
             ("lago-grad-noise", "lago-grad"), ("lago-grad-noise", "lago-noise"),
             ("lago-grad-noise-gn", "lago-grad-noise"),
             ("lago-request-noise", "lago-noise"),
             ("lago-request-noise", "lago-grad-noise"),
             ("bo-grad-noise", "lago-grad-noise"),
             ("lago-request-noise-gn", "lago-request-noise"),
             ("bo-grad-noise-gn", "bo-grad-noise"),
             ("bo-grad-noise-gn", "lago-grad-noise-gn"),
             ("lago-noise-floor", "lago-noise"), ("lago-known-floor", "lago-known"),
             ("lago-grad-noise-gn-floor", "lago-grad-noise-gn"),
             ("lago-request-noise-gn-floor", "lago-request-noise-gn"),
             ("bo-grad-noise-gn", "lago-grad-noise-gn-floor"),
             ("lago-noise-floor-nu0", "lago-noise-floor"),
             ("lago-known-floor-nu0", "lago-known-floor"),
             ("lago-grad-noise-gn-floor-nu0", "lago-grad-noise-gn-floor"),
             ("lago-request-noise-gn-floor-nu0", "lago-request-noise-gn-floor"),
             ("bo-grad-noise-gn", "lago-grad-noise-gn-floor-nu0"),
             ("lago-noise-floor-c1", "lago-noise-floor"),
             ("lago-known-floor-c1", "lago-known-floor"),
             ("lago-noise-floor-tq", "lago-noise-floor-t0"),
             ("lago-known-floor", "lago-known-floor-t0"),
             ("lago-grad-noise-gn-floor", "lago-grad-noise-gn-floor-t0"),
             ("lago-request-noise-gn-floor", "lago-request-noise-gn-floor-t0")]
    # Several workers against one, method by method.
    pairs += [(m, m[:m.rindex("-w")]) for m in methods if m not in ALL_METHODS]
    pairs = [(a, b) for a, b in pairs if a in methods and b in methods]
    lines += ["## Seed by seed", "",
              "Seeds where the recommended point of the first method is better / worse "
              "than that of the second (equal within 1e-9 are neither), and the p-value "
              "of a paired Wilcoxon signed-rank test on the log10 regrets.", "",
              "| problem | " + " | ".join(f"{a} vs {b}" for a, b in pairs) + " |",
              "|---" * (len(pairs) + 1) + "|"]
    for p in problems:
        row = []
        for a, b in pairs:
            ra = {r["seed"]: r["regret"] for r in runs if r["problem"] == p and r["method"] == a}
            rb = {r["seed"]: r["regret"] for r in runs if r["problem"] == p and r["method"] == b}
            common = sorted(set(ra) & set(rb))
            better = sum(ra[s] < rb[s] - 1e-9 for s in common)
            worse = sum(ra[s] > rb[s] + 1e-9 for s in common)
            p_value = "-"
            if better + worse > 0:
                from scipy.stats import wilcoxon
                diffs = [math.log10(ra[s]) - math.log10(rb[s]) for s in common]
                p_value = f"{wilcoxon(diffs).pvalue:.2g}"
            row.append(f"{better} / {worse} of {len(common)} (p = {p_value})")
            summary["pairs"].setdefault(p, {})[f"{a} vs {b}"] = {
                "better": better, "worse": worse, "seeds": len(common),
                "wilcoxon_p": None if p_value == "-" else float(p_value)}
        lines.append(f"| {p} | " + " | ".join(row) + " |")
    lines.append("")
    base = os.path.splitext(path)[0]
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines))
    with open(base + ".json", "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"wrote {base}.md and {base}.json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.path.join(ROOT, "build/server/lago-server"))
    parser.add_argument("--problems", nargs="+", default=list(NOISE))
    parser.add_argument("--methods", nargs="+", default=VALUE_ONLY_METHODS,
                        choices=ALL_METHODS)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget-factor", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1,
                        help="the server's methods: this many workers ask in each round "
                             "(runs named <method>-w<workers>)")
    parser.add_argument("--out", default=os.path.join(HERE, "noise.jsonl"))
    parser.add_argument("--summarize", action="store_true",
                        help="write the Markdown summary of --out and exit")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers: {args.workers} is not a number of workers (1 or more)")
    if args.summarize:
        summarize(args.out)
        return
    sys.path.insert(0, os.path.join(ROOT, "build/python"))
    done = done_runs(args.out, ("problem", "method", "seed"))
    with tempfile.TemporaryDirectory() as tmp:
        proc, address = start_server(args.server, tmp)
        try:
            for name in args.problems:
                base, sigma, _ = NOISE[name]
                problem = PROBLEMS[base]
                for method in args.methods:
                    # Several workers apply to the server's methods only.
                    workers = args.workers if method in SERVER_METHODS else 1
                    for seed in range(args.seeds):
                        if (name, label(method, workers), seed) in done:
                            continue
                        noisy = Noisy(problem, sigma, seed,
                                      args.budget_factor * problem.dim)
                        start = time.monotonic()
                        if method in SERVER_METHODS:
                            x = run_server(name, method, problem, noisy, seed, address,
                                           workers)
                        elif method == "sklearn-gp-ei-noise":
                            x = run_sklearn(problem, noisy, seed)
                        else:
                            x = run_tpe(problem, noisy, seed)
                        best = noisy.points[int(np.argmin(noisy.observed))]
                        record = {"problem": name, "method": label(method, workers),
                                  "seed": seed,
                                  "sigma": NOISE[name][2],
                                  "evaluations": len(noisy.points),
                                  "regret": noisy.regret(x),
                                  "regret_best_observed": noisy.regret(best),
                                  "seconds": round(time.monotonic() - start, 2)}
                        with open(args.out, "a") as f:
                            f.write(json.dumps(record) + "\n")
                        print(f"{name} {label(method, workers)} seed {seed}: log10 regret "
                              f"{math.log10(record['regret']):.2f} "
                              f"({record['seconds']} s)", flush=True)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
