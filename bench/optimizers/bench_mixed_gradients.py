#!/usr/bin/python3
"""Gradients with integer and categorical parameters: lago given the gradient
along the continuous variables (every evaluation, or when a trial asks for
it) against lago with values only and Optuna's TPE, on the six mixed
problems of bench_categorical.py and bench_integer.py, with 20 cost units per
variable (a value costs 1, a gradient 1, so a run with gradients makes about
half as many evaluations).

The gradient covers the continuous variables; its entries along the integer
and categorical ones are 0. Each run records its final log10 regret against
the mixed problem's minimum and how many of its evaluations repeated a point
evaluated before.

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 \\
        bench/optimizers/bench_mixed_gradients.py --seeds 20 \\
        --out bench/optimizers/mixed_gradients.jsonl \\
        --md bench/optimizers/mixed_gradients.md \\
        --json bench/optimizers/mixed_gradients.json
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_categorical  # noqa: E402
import bench_integer  # noqa: E402
from bench_integer import Run, drive, parse_args, report, run_all  # noqa: E402

METHODS = ["lago-enhanced", "lago-on-request", "lago", "optuna-tpe"]
MODES = {"lago-enhanced": "enhanced", "lago-on-request": "on_request", "lago": "none"}
PROBLEMS = list(bench_categorical.PROBLEM_MAKERS) + list(bench_integer.MIXED)


def make_problem(name, hartmann6_int3_minimum):
    if name in bench_categorical.PROBLEM_MAKERS:
        return bench_categorical.PROBLEM_MAKERS[name]()
    return bench_integer.MIXED[name](hartmann6_int3_minimum)


def run_server(method, problem, seed, budget, address):
    run = Run(problem, budget)
    if isinstance(problem, bench_categorical.Categorical):
        k = len(problem.choices)
        params = ([(f"c{i}", list(c)) for i, c in enumerate(problem.choices)]
                  + [(f"x{i}", a, b) for i, (a, b) in enumerate(problem.bounds, k)])

        def point(trial):
            return ([problem.choices[i][int(trial.x[i])] for i in range(k)]
                    + list(trial.x[k:]))
    else:
        k = problem.k
        lo, hi = problem.int_bounds
        params = ([(f"n{i}", lo, hi, "int") for i in range(k)]
                  + [(f"x{i}", a, b) for i, (a, b) in enumerate(problem.bounds[k:], k)])

        def point(trial):
            return list(trial.x)
    drive(address, f"{problem.name}-{method}-{seed}", params, method, seed, budget,
          lambda trial: run.evaluate(point(trial)),
          gradient=lambda trial: problem.gradient(point(trial)),
          gradient_mode=MODES[method])
    return run


def run_optuna(method, problem, seed, budget):
    if isinstance(problem, bench_categorical.Categorical):
        return bench_categorical.run_optuna(method, problem, seed, budget)
    return bench_integer.run_optuna(method, problem, seed, budget)


def main():
    a = parse_args(__doc__, PROBLEMS, METHODS, "mixed_gradients.jsonl")
    problems = a.problems.split(",")
    h_min = (bench_integer._hartmann6_int3_minimum() if "hartmann6-int3" in problems
             else None)
    rows = run_all(a, problems, lambda name: make_problem(name, h_min), run_server,
                   run_optuna)
    report(rows, a, METHODS, "Gradients with integer and categorical parameters: lago "
           "with and without gradients, and TPE", "bench_mixed_gradients.py")


if __name__ == "__main__":
    main()
