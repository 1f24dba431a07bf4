#!/usr/bin/python3
"""Categorical parameters: lago with categorical parameters against the same
study with each choice declared as an integer index (what a user without
categorical parameters would do), sobol, and Optuna's TPE (suggest_categorical)
and CMA-ES (which samples categorical parameters independently at random), on
three mixed problems, values only, 20 evaluations per parameter.

- hartmann6-cat8: Hartmann6 with x0 one of 8 values (0, 1/7, ..., 1), given as
  8 labels in a shuffled order; x1..x5 real in [0, 1].
- shifted-bowl-cat6: 4 real variables in [-2, 2] and one of 6 choices, each
  with its own centre and offset: f = offset_c + |x - centre_c|^2 / 4. The
  minimum is 0, at the choice with offset 0 and its centre.
- styblinski-tang6-cat2: Styblinski-Tang in 6 variables, x0 and x1 each one of
  6 values (-5, -3, ..., 5) given as shuffled labels; x2..x5 real in [-5, 5].

For `lago-ordinal` choice j of the shuffled list is the whole number j, so the
model sees an order that means nothing. Each run records its final log10
regret against the mixed problem's minimum and how many of its evaluations
repeated a point evaluated before.

    /usr/bin/python3 bench/optimizers/bench_categorical.py --seeds 20 \\
        --out bench/optimizers/categorical.jsonl \\
        --md bench/optimizers/categorical.md --json bench/optimizers/categorical.json
"""

import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_integer import Run, drive, optuna_study, parse_args, report, run_all  # noqa: E402
from problems import PROBLEMS  # noqa: E402

METHODS = ["lago", "lago-ordinal", "sobol", "optuna-tpe", "optuna-cmaes"]


class Categorical:
    """A problem over `bounds` (real variables) and `choices` (one list of
    labels per categorical variable, placed first); `value(labels, x)` is the
    objective and `real_gradient(labels, x)` its gradient in x."""

    def __init__(self, name, choices, bounds, value, minimum, real_gradient):
        self.name, self.choices, self.bounds = name, choices, bounds
        self.value, self.minimum = value, minimum
        self.real_gradient = real_gradient
        self.dim = len(choices) + len(bounds)

    def __call__(self, point):
        k = len(self.choices)
        return self.value(point[:k], [float(v) for v in point[k:]])

    def gradient(self, point):
        """One entry per variable, 0 along the categorical ones."""
        k = len(self.choices)
        return [0.0] * k + [float(g) for g in
                            self.real_gradient(point[:k], [float(v) for v in point[k:]])]


def _shuffled(values, seed):
    """Labels for `values` in a fixed shuffled order: the label names the value."""
    order = np.random.default_rng(seed).permutation(len(values))
    return [f"v{values[i]:+.4g}" for i in order]


def _value_of(label):
    return float(label[1:])


def hartmann6_cat8():
    from scipy.optimize import minimize
    base = PROBLEMS["hartmann6"]
    grid = [j / 7 for j in range(8)]
    rng = np.random.default_rng(0)
    best = math.inf
    for v in grid:
        for _ in range(8):
            def tail(z):
                value, gradient = base([v] + list(z))
                return value, gradient[1:]

            r = minimize(tail, rng.random(5), jac=True, method="L-BFGS-B", bounds=[(0, 1)] * 5)
            best = min(best, float(r.fun))
    return Categorical("hartmann6-cat8", [_shuffled(grid, 1)], [(0.0, 1.0)] * 5,
                       lambda c, x: base([_value_of(c[0])] + x)[0], best,
                       lambda c, x: base([_value_of(c[0])] + x)[1][1:])


def shifted_bowl_cat6():
    rng = np.random.default_rng(2)
    centres = rng.uniform(-1.5, 1.5, size=(6, 4))
    offsets = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0]
    labels = [f"c{j}" for j in rng.permutation(6)]

    def value(c, x):
        j = int(c[0][1:])
        return offsets[j] + float(np.sum((np.array(x) - centres[j]) ** 2)) / 4.0

    def real_gradient(c, x):
        return (np.array(x) - centres[int(c[0][1:])]) / 2.0

    return Categorical("shifted-bowl-cat6", [labels], [(-2.0, 2.0)] * 4, value, 0.0,
                       real_gradient)


def styblinski_tang6_cat2():
    base = PROBLEMS["styblinski-tang8"]

    def st(x):  # Styblinski-Tang in any dimension, as problems.py defines it.
        x = np.asarray(x)
        return float(0.5 * np.sum(x ** 4 - 16 * x ** 2 + 5 * x))

    assert abs(st([-2.9035] * 8) - base([-2.9035] * 8)[0]) < 1e-9
    grid = [-5.0, -3.0, -1.0, 1.0, 3.0, 5.0]
    minimum = 2 * st([-3.0]) + 4 * (-39.16616570377142)
    return Categorical("styblinski-tang6-cat2", [_shuffled(grid, 3), _shuffled(grid, 4)],
                       [(-5.0, 5.0)] * 4,
                       lambda c, x: st([_value_of(c[0]), _value_of(c[1])] + x), minimum,
                       lambda c, x: 0.5 * (4 * np.asarray(x) ** 3 - 32 * np.asarray(x) + 5))


PROBLEM_MAKERS = {"hartmann6-cat8": hartmann6_cat8, "shifted-bowl-cat6": shifted_bowl_cat6,
                  "styblinski-tang6-cat2": styblinski_tang6_cat2}


def run_server(method, problem, seed, budget, address):
    run = Run(problem, budget)
    k = len(problem.choices)
    if method == "lago-ordinal":
        params = [(f"c{i}", 0, len(c) - 1, "int") for i, c in enumerate(problem.choices)]
    else:
        params = [(f"c{i}", list(c)) for i, c in enumerate(problem.choices)]
    params += [(f"x{i}", a, b) for i, (a, b) in enumerate(problem.bounds, k)]
    drive(address, f"{problem.name}-{method}-{seed}", params, method, seed, budget,
          lambda trial: run.evaluate([problem.choices[i][int(trial.x[i])] for i in range(k)]
                                     + list(trial.x[k:])))
    return run


def run_optuna(method, problem, seed, budget):
    run = Run(problem, budget)
    study = optuna_study(method, seed)
    k = len(problem.choices)

    def objective(trial):
        point = ([trial.suggest_categorical(f"c{i}", c) for i, c in enumerate(problem.choices)]
                 + [trial.suggest_float(f"x{i}", a, b)
                    for i, (a, b) in enumerate(problem.bounds, k)])
        return run.evaluate(point)

    study.optimize(objective, n_trials=int(budget))
    return run


def main():
    a = parse_args(__doc__, PROBLEM_MAKERS, METHODS, "categorical.jsonl")
    rows = run_all(a, a.problems.split(","), lambda name: PROBLEM_MAKERS[name](), run_server,
                   run_optuna)
    report(rows, a, METHODS, "Categorical parameters: lago against integer indices, sobol and "
           "Optuna", "bench_categorical.py")


if __name__ == "__main__":
    main()
