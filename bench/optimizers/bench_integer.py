#!/usr/bin/python3
"""Integer parameters: lago with integer parameters against the same study
with the integers relaxed and rounded by the client, sobol, and Optuna's TPE
and CMA-ES (plain, and with a margin for integers) with suggest_int, on mixed versions of three problems of
problems.py, values only, 20 d evaluations per run.

- hartmann6-int3: x0, x1, x2 = n / 10 for whole n in [0, 10]; x3..x5 real.
- rosenbrock5-int2: x0, x1 whole in [-5, 10]; x2..x4 real in [-5, 10].
- styblinski-tang8-int4: x0..x3 whole in [-5, 5]; x4..x7 real in [-5, 5].

A method named `NAME+KEY=VALUE[,KEY=VALUE...]` runs NAME with those
strategy options on its lago studies (`lago+trend=constant`), under its own
name in --out.

`lago-relaxed` is what a user without integer parameters would do: declare
[lower - 1/2, upper + 1/2] continuous and round inside the objective. The
model then sees a function constant between whole numbers, and two
suggestions may round onto one point. Each run records its final log10 regret
against the mixed problem's minimum and how many of its evaluations repeated
a point evaluated before.

    /usr/bin/python3 bench/optimizers/bench_integer.py --seeds 10 \\
        --out bench/optimizers/integer.jsonl --md bench/optimizers/integer.md \\
        --json bench/optimizers/integer.json
"""

import argparse
import itertools
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
from bench_optimizers import start_server  # noqa: E402
from problems import PROBLEMS  # noqa: E402

METHODS = ["lago", "lago-relaxed", "sobol", "optuna-tpe", "optuna-cmaes",
           "optuna-cmaes-margin"]


class Mixed:
    """`base` with its first `k` variables whole numbers n in [lo, hi], seen by
    `base` as scale * n."""

    def __init__(self, name, base, k, lo, hi, scale, minimum):
        self.name, self.base, self.k = name, PROBLEMS[base], k
        self.dim = self.base.dim
        self.scale = scale
        self.int_bounds = (lo, hi)
        self.bounds = [(lo, hi)] * k + self.base.bounds[k:]
        self.minimum = minimum

    def __call__(self, x):
        y = [self.scale * v for v in x[:self.k]] + list(x[self.k:])
        return self.base(y)[0]

    def gradient(self, x):
        """One entry per variable, 0 along the whole numbers."""
        y = [self.scale * v for v in x[:self.k]] + list(x[self.k:])
        return [0.0] * self.k + [float(g) for g in self.base(y)[1][self.k:]]


def _hartmann6_int3_minimum():
    """The mixed minimum: every whole triple, the rest by L-BFGS-B from 4 starts."""
    from scipy.optimize import minimize
    base = PROBLEMS["hartmann6"]
    best = math.inf
    rng = np.random.default_rng(0)
    for n in itertools.product(range(11), repeat=3):
        head = [v / 10 for v in n]
        for _ in range(4):
            def tail(z):
                value, gradient = base(head + list(z))
                return value, gradient[3:]

            r = minimize(tail, rng.random(3), jac=True, method="L-BFGS-B",
                         bounds=[(0, 1)] * 3)
            best = min(best, float(r.fun))
    return best


# Styblinski-Tang's one-variable minimum: -39.16617 at -2.9035; whole: -39 at -3.
_ST_REAL = -39.16616570377142
MIXED = {
    # Its minimum, -3.2900 against the continuous -3.3224, is computed when the
    # benchmark starts (_hartmann6_int3_minimum, a few seconds).
    "hartmann6-int3": lambda m: Mixed("hartmann6-int3", "hartmann6", 3, 0, 10, 0.1, m),
    "rosenbrock5-int2": lambda m: Mixed("rosenbrock5-int2", "rosenbrock5", 2, -5, 10, 1.0,
                                        0.0),
    "styblinski-tang8-int4": lambda m: Mixed("styblinski-tang8-int4", "styblinski-tang8", 4,
                                             -5, 5, 1.0, 4 * -39.0 + 4 * _ST_REAL),
}


class Run:
    def __init__(self, problem, budget):
        self.problem, self.budget = problem, budget
        self.best, self.seen, self.repeats = math.inf, set(), 0

    def evaluate(self, x):
        key = tuple(v if isinstance(v, str) else float(v) for v in x)
        self.repeats += key in self.seen
        self.seen.add(key)
        value = self.problem(list(key))
        self.best = min(self.best, value)
        return value

    def regret(self):
        return math.log10(max(self.best - self.problem.minimum, 1e-12))


def run_server(method, problem, seed, budget, address):
    run = Run(problem, budget)
    k = problem.k
    lo, hi = problem.int_bounds
    if method == "lago-relaxed":
        params = ([(f"n{i}", lo - 0.5, hi + 0.5) for i in range(k)]
                  + [(f"x{i}", a, b) for i, (a, b) in enumerate(problem.bounds[k:], k)])
    else:
        params = ([(f"n{i}", lo, hi, "int") for i in range(k)]
                  + [(f"x{i}", a, b) for i, (a, b) in enumerate(problem.bounds[k:], k)])

    def point(trial):
        x = list(trial.x)
        if method == "lago-relaxed":
            x = [min(max(round(v), lo), hi) for v in x[:k]] + x[k:]
        return x

    drive(address, f"{problem.name}-{method}-{seed}", params, method, seed, budget,
          lambda trial: run.evaluate(point(trial)))
    return run


# The strategy options of the run in progress (a method's "+KEY=VALUE,..."),
# which drive() gives every lago study.
STRATEGY_OPTIONS = {}


def drive(address, name, params, method, seed, budget, evaluate, gradient=None,
          gradient_mode="none"):
    """A study `name` of `params` (strategy sobol for the method sobol, lago
    otherwise), suggested and observed until the budget (in cost units: a
    value costs 1, a gradient 1) is spent or the strategy ends it:
    `evaluate(trial)` gives the value, and `gradient(trial)` the gradient
    when the trial asks for one."""
    import lago
    strategy = "sobol" if method == "sobol" else "lago"
    # Another study name for every set of options, so that one server holds
    # the runs of a method with and without them.
    name += "".join(f"-{k}.{v}" for k, v in sorted(STRATEGY_OPTIONS.items()))
    with lago.Client(address, timeout=600) as client:
        study = client.create_study(name, params, strategy=strategy, seed=seed, budget=budget,
                                    gradient_mode=gradient_mode,
                                    strategy_options=dict(STRATEGY_OPTIONS)
                                    if strategy == "lago" else None)
        for _ in range(int(budget)):
            try:
                trial = study.suggest()
            except lago.LagoError as e:
                if e.code.name in ("RESOURCE_EXHAUSTED", "FAILED_PRECONDITION"):
                    break
                raise
            g = gradient(trial) if gradient is not None and trial.need_gradient else None
            study.observe(trial, evaluate(trial), gradient=g)


def optuna_study(method, seed):
    """A quiet Optuna study with the sampler of `method`: optuna-tpe,
    optuna-cmaes or optuna-cmaes-margin."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if method == "optuna-tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        # With a margin (Hamano et al. 2022) CMA-ES keeps a floor on the
        # probability of leaving the current whole number; without one its
        # integers stay where its mean starts. A categorical parameter it
        # samples independently (at random).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.CmaEsSampler(
                seed=seed, with_margin=method == "optuna-cmaes-margin",
                warn_independent_sampling=False)
    return optuna.create_study(sampler=sampler)


def run_optuna(method, problem, seed, budget):
    run = Run(problem, budget)
    study = optuna_study(method, seed)
    lo, hi = problem.int_bounds

    def objective(trial):
        x = ([float(trial.suggest_int(f"n{i}", lo, hi)) for i in range(problem.k)]
             + [trial.suggest_float(f"x{i}", a, b)
                for i, (a, b) in enumerate(problem.bounds[problem.k:], problem.k)])
        return run.evaluate(x)

    study.optimize(objective, n_trials=int(budget))
    return run


def summarize(rows, seeds):
    out = {}
    for (problem, method), group in sorted(_group(rows).items()):
        regrets = sorted(r["final_log10_regret"] for r in group)
        q = statistics.quantiles(regrets, n=4, method="inclusive") if len(regrets) > 1 \
            else [regrets[0]] * 3
        out.setdefault(problem, {})[method] = {
            "n": len(group), "median": q[1], "q1": q[0], "q3": q[2],
            "repeats_median": statistics.median(r["repeats"] for r in group),
            "evaluations_median": statistics.median(r["evaluations"] for r in group),
            "seconds_median": statistics.median(r["seconds"] for r in group)}
    return out


def _group(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["problem"], r["method"]), []).append(r)
    return groups


def markdown(summary, command, methods=METHODS,
             title="Integer parameters: lago against rounding by the client, sobol and Optuna"):
    lines = [f"# {title}", "", "Command:", "", "    " + command, "",
             "Final log10 regret, median [first quartile, third quartile] over the "
             "seeds (floored at -12; lower is better), and the median number of "
             "evaluations that repeated an earlier point (of the run's evaluations):", "",
             "| problem | " + " | ".join(methods) + " |",
             "|---|" + "---|" * len(methods)]
    for problem, by_method in summary.items():
        cells = []
        for m in methods:
            s = by_method.get(m)
            cells.append("-" if s is None else
                         f"{s['median']:.2f} [{s['q1']:.2f}, {s['q3']:.2f}] "
                         f"(n={s['n']}); repeats {s['repeats_median']:g} of "
                         f"{s['evaluations_median']:g}")
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_all(a, problems, make_problem, server_run, optuna_run):
    """Runs every (problem, method, seed) of `a` not yet in `a.out` (one JSON
    row each, appended as it ends) through one lago-server, or Optuna for the
    optuna-* methods, with a budget of 20 evaluations per variable; returns
    every row of `a.out`."""
    rows, done = [], set()
    if os.path.exists(a.out):
        rows = [json.loads(line) for line in open(a.out)]
        done = {(r["problem"], r["method"], r["seed"]) for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        proc, address = start_server(a.server, tmp)
        try:
            with open(a.out, "a") as out:
                for name in problems:
                    problem = make_problem(name)
                    print(f"{name}: minimum {problem.minimum!r}", flush=True)
                    budget = 20 * problem.dim
                    for method in a.methods.split(","):
                        for seed in range(a.seeds):
                            if (name, method, seed) in done:
                                continue
                            start = time.time()
                            base, _, options = method.partition("+")
                            STRATEGY_OPTIONS.clear()
                            STRATEGY_OPTIONS.update(
                                kv.split("=", 1) for kv in options.split(",") if kv)
                            run = (optuna_run(base, problem, seed, budget)
                                   if base.startswith("optuna")
                                   else server_run(base, problem, seed, budget, address))
                            row = {"problem": name, "method": method, "seed": seed,
                                   "final_log10_regret": run.regret(),
                                   "repeats": run.repeats,
                                   "evaluations": len(run.seen) + run.repeats,
                                   "seconds": time.time() - start}
                            rows.append(row)
                            out.write(json.dumps(row) + "\n")
                            out.flush()
                            print(f"{name} {method} seed {seed}: "
                                  f"{row['final_log10_regret']:.2f}, "
                                  f"{run.repeats} repeats, {row['seconds']:.0f} s", flush=True)
        finally:
            proc.terminate()
            proc.wait()
    return rows


def report(rows, a, methods, title, script):
    """The summary of `rows` to `a.json` and `a.md` (when given) and stdout."""
    summary = summarize(rows, a.seeds)
    command = f"/usr/bin/python3 bench/optimizers/{script} " + " ".join(sys.argv[1:])
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"command": command, "summary": summary}, f, indent=1)
    text = markdown(summary, command, methods, title)
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)
    print(text)


def parse_args(doc, problems, methods, out):
    """The command line of a mixed-variable benchmark; puts the built Python
    client beside --server on the path."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--problems", default=",".join(problems))
    p.add_argument("--methods", default=",".join(methods))
    p.add_argument("--out", default=os.path.join(HERE, out))
    p.add_argument("--md", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--server", default=os.path.join(ROOT, "build/server/lago-server"))
    a = p.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(a.server), "..", "python"))
    return a


def main():
    a = parse_args(__doc__, MIXED, METHODS, "integer.jsonl")
    problems = a.problems.split(",")
    h_min = _hartmann6_int3_minimum() if "hartmann6-int3" in problems else None
    rows = run_all(a, problems, lambda name: MIXED[name](h_min), run_server, run_optuna)
    report(rows, a, METHODS, "Integer parameters: lago against rounding by the client, sobol "
           "and Optuna", "bench_integer.py")


if __name__ == "__main__":
    main()
