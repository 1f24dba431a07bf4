#!/usr/bin/python3
"""Local methods from the same start: where the budget goes on Rosenbrock 5.

L-BFGS-B multistart beats lago on Rosenbrock 5 (RESULTS.md). This separates
the local method from the rest of lago (the initial design, the competition
with EI): every method starts from the same point, the first start of the
L-BFGS-B multistart of bench_optimizers.py for that seed, with the same
budget of 20d cost units (a value and its gradient cost 2, so 50 evaluations
in d = 5, the start included). With --evaluations N > 50 every run goes on to
N evaluations: the table's regret columns are still read at 50 (the prefix
of the same run: no method here looks at its budget), and a last column says
how many evaluations each run needed to reach a regret of 1e-3, which tells
how far a method is from the budget rather than only which side of it it ends.

  lbfgsb              scipy L-BFGS-B from the start, no restarts
  trust-constr-sr1    scipy's trust-region method (trust-constr) with SR1
  trust-constr-bfgs   the same with BFGS
  trust-constr-oracle the same with the exact Hessian at every iterate, from
                      central differences of the gradient that the budget
                      does not count: an oracle, to show what the local
                      model's matrix is worth
  lago-tr-sr1         lago-server's trust-region strategy, the start imported
                      as its only design point (initial_points = 1), SR1
  lago-tr-lbfgs       the same with update = lbfgs

    /usr/bin/python3 bench/optimizers/local_methods.py --seeds 20 \\
        --out bench/optimizers/local_methods --evaluations 400
writes local_methods.md and local_methods.json.
"""

import argparse
import json
import os
import sys
import tempfile
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_optimizers import ROOT, Budget, Tracker, next_trial, start_server  # noqa: E402
from problems import PROBLEMS  # noqa: E402


def first_start(problem, seed):
    """The first start of run_lbfgsb in bench_optimizers.py for this seed."""
    rng = np.random.default_rng(seed)
    lo = np.array([b[0] for b in problem.bounds])
    hi = np.array([b[1] for b in problem.bounds])
    return lo + (hi - lo) * rng.random(problem.dim)


def run_scipy(problem, x0, budget, method):
    from scipy.optimize import BFGS, SR1, Bounds, minimize
    tracker = Tracker(problem, budget)
    lo = np.array([b[0] for b in problem.bounds])
    hi = np.array([b[1] for b in problem.bounds])
    try:
        if method == "lbfgsb":
            minimize(lambda x: tracker.evaluate(x, True), x0, jac=True, method="L-BFGS-B",
                     bounds=problem.bounds)
        else:
            if method == "trust-constr-oracle":
                def hess(x, h=1e-6):
                    # Uncounted gradient calls: problem(), not tracker.evaluate().
                    cols = [(np.array(problem(x + h * e)[1]) - np.array(problem(x - h * e)[1]))
                            / (2 * h) for e in np.eye(problem.dim)]
                    m = np.array(cols).T
                    return 0.5 * (m + m.T)
            else:
                hess = SR1() if method == "trust-constr-sr1" else BFGS()
            minimize(lambda x: tracker.evaluate(x, True), x0, jac=True, hess=hess,
                     method="trust-constr", bounds=Bounds(lo, hi),
                     options={"maxiter": 100000})
    except Budget:
        pass
    return tracker


def run_lago_tr(problem, x0, budget, update, address, name):
    import lago
    tracker = Tracker(problem, budget)
    with lago.Client(address, timeout=600) as client:
        study = client.create_study(
            name, [(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(problem.bounds)],
            strategy="trust-region", gradient_mode="enhanced", seed=0, budget=budget,
            strategy_options={"initial_points": "1", "update": update})
        value, gradient = tracker.evaluate(x0, True)
        study.add_observations([x0], [value], [gradient])
        while True:
            trial = next_trial(study)
            if trial is None or tracker.cost + 2.0 > budget + 1e-9:
                break
            value, gradient = tracker.evaluate(trial.x, True)
            study.observe(trial, value, gradient=gradient)
    return tracker


def evaluations_cell(hits, evaluations):
    """Median [quartiles] of the evaluations to the target, a run that never
    reached it counted as more than `evaluations`, and the count that did."""
    n = np.array([h if h is not None else np.inf for h in hits], dtype=float)

    def show(v):
        return f">{evaluations}" if np.isinf(v) else f"{v:.0f}"

    q = np.percentile(n, [50, 25, 75], method="lower")
    return (f"{show(q[0])} [{show(q[1])}, {show(q[2])}] "
            f"({int(np.sum(np.isfinite(n)))}/{len(n)})")


METHODS = ["lbfgsb", "trust-constr-sr1", "trust-constr-bfgs", "trust-constr-oracle",
           "lago-tr-sr1", "lago-tr-lbfgs"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.path.join(ROOT, "build/server/lago-server"))
    parser.add_argument("--problem", default="rosenbrock5")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--out", default=os.path.join(HERE, "local_methods"))
    parser.add_argument("--evaluations", type=int, default=0,
                        help="run every method this long (default: the budget, 10d)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # trust-constr warns about its bounds handling.
    build = os.path.dirname(os.path.dirname(os.path.abspath(args.server)))
    sys.path.insert(0, os.path.join(build, "python"))
    problem = PROBLEMS[args.problem]
    budget = 20.0 * problem.dim
    evaluations = max(args.evaluations, int(budget // 2))
    results = {m: [] for m in METHODS}
    to_target = {m: [] for m in METHODS}  # evaluations to 1e-3, None if never
    with tempfile.TemporaryDirectory(prefix="lago-local-") as tmp:
        proc, address = start_server(args.server, tmp)
        try:
            for seed in range(args.seeds):
                x0 = first_start(problem, seed)
                for m in METHODS:
                    if m.startswith("lago-tr-"):
                        t = run_lago_tr(problem, x0, 2.0 * evaluations, m[len("lago-tr-"):],
                                        address, f"{m}-{seed}")
                    else:
                        t = run_scipy(problem, x0, 2.0 * evaluations, m)
                    at_budget = [r for cost, r in t.trace if cost <= budget + 1e-9]
                    results[m].append(float(np.log10(max(at_budget[-1], 1e-12))))
                    hit = next((i + 1 for i, (_, r) in enumerate(t.trace) if r < 1e-3), None)
                    to_target[m].append(hit)
                    print(f"{args.problem} seed {seed} {m}: log10 regret "
                          f"{results[m][-1]:.2f} at the budget, 1e-3 after "
                          f"{hit if hit else '-'} of {len(t.trace)} evaluations", file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait()
    with open(args.out + ".json", "w") as f:
        json.dump({"problem": args.problem, "budget": budget, "seeds": args.seeds,
                   "evaluations": evaluations, "log10_regret": results,
                   "evaluations_to_1e-3": to_target}, f, indent=1)
    base = results["lbfgsb"]
    lines = [
        f"# Local methods from the same start: {args.problem}",
        "",
        "Command: `/usr/bin/python3 bench/optimizers/local_methods.py --seeds "
        f"{args.seeds} --out bench/optimizers/local_methods"
        + (f" --evaluations {evaluations}" if evaluations > budget // 2 else "")
        + "` (see the script's docstring for the methods).",
        "",
        f"Every method starts from the first start of the L-BFGS-B multistart for "
        f"each of {args.seeds} seeds, with {budget:g} cost units (a value and its "
        f"gradient cost 2: {int(budget // 2)} evaluations, the start included). Final "
        "log10 simple regret, floored at -12; better / worse counts seeds against "
        "L-BFGS-B from the same start (ties within 0.005).",
        "",
        f"The last column: evaluations each run needed to reach a regret of 1e-3 "
        f"when it went on to {evaluations} evaluations, median [first, third "
        f"quartile] over the seeds (of an even number, the lower middle one; a "
        f"run that never reached it counts as more "
        f"than {evaluations}; scipy's methods may stop earlier on their own "
        f"convergence tests, the lago runs stop at {evaluations}), and how many "
        f"reached it.",
        "",
        "| method | median | first quartile | third quartile | below 1e-3 | "
        "better / worse than L-BFGS-B | evaluations to 1e-3 |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in METHODS:
        r = np.array(results[m])
        better = int(np.sum(r < np.array(base) - 0.005))
        worse = int(np.sum(r > np.array(base) + 0.005))
        lines.append(f"| {m} | {np.median(r):.2f} | {np.percentile(r, 25):.2f} | "
                     f"{np.percentile(r, 75):.2f} | {int(np.sum(r < -3))}/{len(r)} | "
                     f"{'-' if m == 'lbfgsb' else f'{better} / {worse}'} | "
                     f"{evaluations_cell(to_target[m], evaluations)} |")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
