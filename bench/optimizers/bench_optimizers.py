#!/usr/bin/python3
"""Optimiser comparison: lago (three gradient modes), its ablations and sobol
through a real lago-server and the Python client, against scipy L-BFGS-B
multistart with gradients, Optuna TPE and CMA-ES, and a value-only GP-EI with
scikit-learn, on the problems of problems.py.

Budget: `--budget-factor` x d cost units per run (20 d by default); a value
costs 1 and a gradient costs 1. Every run appends one JSON line to `--out`
(problem, method, seed, the best-so-far regret after each evaluation against
the cost spent, the final log10 simple regret, seconds, and for the server's
methods the kind of each suggestion evaluated); runs already in the
file are skipped, so an interrupted benchmark resumes. summarize.py turns the
file into RESULTS.md and the plots.

    /usr/bin/python3 bench/optimizers/bench_optimizers.py --seeds 20 \\
        --out bench/optimizers/runs.jsonl
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from problems import PROBLEMS, SHIFTED, check, problem as find_problem  # noqa: E402

SERVER_METHODS = {
    # method: (strategy, gradient mode)
    "lago-enhanced": ("lago", "enhanced"),
    "lago-on-request": ("lago", "on_request"),
    "lago-value-only": ("lago", "none"),
    "bo": ("bo", "enhanced"),
    "trust-region": ("trust-region", "enhanced"),
    "sobol": ("sobol", "none"),
}
OTHER_METHODS = ["lbfgsb-multistart", "optuna-tpe", "optuna-cmaes", "sklearn-gp-ei"]
ALL_METHODS = list(SERVER_METHODS) + OTHER_METHODS


class Budget(Exception):
    pass


class Tracker:
    """Counts cost units and records the best value after every evaluation."""

    def __init__(self, problem, budget):
        self.problem, self.budget = problem, budget
        self.cost, self.best = 0.0, math.inf
        self.trace = []  # (cost, best regret)
        self.kinds = []  # The kind of every server suggestion evaluated, in order.
        # Server suggestions at a point evaluated before, but for the
        # deliberate ones (a gradient at the incumbent).
        self.repeats = 0
        self.seen = set()

    def record(self, value, cost):
        self.cost += cost
        self.best = min(self.best, value)
        self.trace.append((self.cost, max(self.best - self.problem.minimum, 0.0)))

    def evaluate(self, x, gradient):
        cost = 2.0 if gradient else 1.0
        if self.cost + cost > self.budget + 1e-9:
            raise Budget()
        value, g = self.problem(x)
        self.record(value, cost)
        return value, g


def add_variant(spec):
    """--variant NAME=STRATEGY:MODE[:key=value,...], e.g.
    lago-g100=lago:enhanced:gamma=100: a server method with strategy options; a
    value "<k>d" means k times the dimension, and the value "bound" the
    problem's lower_bound (problems.py). The key log_warp=C is not sent
    to the server: the client then reports log(f - f* + C) and its gradient
    instead of f (an output warp with the known minimum f* as an oracle lower
    bound); the regret is still that of f."""
    name, _, rest = spec.partition("=")
    parts = rest.split(":")
    if not name or len(parts) not in (2, 3):
        raise SystemExit(f"--variant {spec!r}: expected NAME=STRATEGY:MODE[:key=value,...]")
    options = dict(kv.split("=", 1) for kv in parts[2].split(",")) if len(parts) == 3 else {}
    SERVER_METHODS[name] = (parts[0], parts[1], options)
    return name


def next_trial(study, client_id=""):
    """The study's next suggestion (for the worker `client_id`), or None when
    the budget is spent or the strategy stopped the study early."""
    import lago
    try:
        return study.suggest(client_id=client_id)
    except lago.LagoError as e:
        if e.code.name == "RESOURCE_EXHAUSTED" or (
                e.code.name == "FAILED_PRECONDITION" and "is done" in e.details):
            return None
        raise


def run_server_method(method, problem, seed, budget, address):
    import lago
    strategy, mode, *rest = SERVER_METHODS[method]
    # A value "<k>d" is k times the problem's dimension (initial_points=2d).
    options = {key: repr(problem.lower_bound) if v == "bound" else
               str(int(float(v[:-1]) * problem.dim)) if v.endswith("d") else v
               for key, v in (rest[0] if rest else {}).items()}
    warp = float(options.pop("log_warp", 0.0))
    tracker = Tracker(problem, budget)
    with lago.Client(address, timeout=600) as client:
        study = client.create_study(
            f"{problem.name}-{method}-{seed}",
            [(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(problem.bounds)],
            strategy=strategy, gradient_mode=mode, seed=seed, budget=budget,
            strategy_options=options)
        while True:
            trial = next_trial(study)
            if trial is None:
                break
            # A gradient the budget cannot pay for is not evaluated.
            want = trial.need_gradient and tracker.cost + 2.0 <= budget + 1e-9
            if not want and tracker.cost + 1.0 > budget + 1e-9:
                break
            value, gradient = tracker.evaluate(trial.x, want)
            tracker.kinds.append(trial.kind)
            if tuple(trial.x) in tracker.seen and trial.kind != "gradient_at_incumbent":
                tracker.repeats += 1
            tracker.seen.add(tuple(trial.x))
            if warp > 0.0:
                shifted = value - problem.minimum + warp
                value = math.log(shifted)
                gradient = None if gradient is None else [g / shifted for g in gradient]
            study.observe(trial, value, gradient=gradient if want else None)
    return tracker


def run_lbfgsb(problem, seed, budget):
    from scipy.optimize import minimize
    tracker = Tracker(problem, budget)
    rng = np.random.default_rng(seed)
    lo = np.array([b[0] for b in problem.bounds])
    hi = np.array([b[1] for b in problem.bounds])
    try:
        while True:
            x0 = lo + (hi - lo) * rng.random(problem.dim)
            minimize(lambda x: tracker.evaluate(x, True), x0, jac=True, method="L-BFGS-B",
                     bounds=problem.bounds)
    except Budget:
        pass
    return tracker


def run_optuna(problem, seed, budget, sampler_name):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tracker = Tracker(problem, budget)
    sampler = (optuna.samplers.TPESampler(seed=seed) if sampler_name == "tpe"
               else optuna.samplers.CmaEsSampler(seed=seed))
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(problem.bounds)]
        return tracker.evaluate(x, False)[0]

    try:
        study.optimize(objective, n_trials=int(budget))
    except Budget:
        pass
    return tracker


def run_sklearn_gp_ei(problem, seed, budget):
    from scipy.stats import norm, qmc
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern
    tracker = Tracker(problem, budget)
    rng = np.random.default_rng(seed)
    lo = np.array([b[0] for b in problem.bounds])
    hi = np.array([b[1] for b in problem.bounds])
    d = problem.dim
    xs = list(qmc.Sobol(d, seed=seed).random(min(5 * d, int(budget))))
    ys = []
    try:
        for u in xs:
            ys.append(tracker.evaluate(lo + (hi - lo) * u, False)[0])
        while True:
            kernel = ConstantKernel(1.0) * Matern(length_scale=np.full(d, 0.3), nu=2.5,
                                                  length_scale_bounds=(1e-3, 1e2))
            gp = GaussianProcessRegressor(kernel, normalize_y=True, alpha=1e-8,
                                          n_restarts_optimizer=2, random_state=seed)
            gp.fit(np.array(xs), np.array(ys))
            candidates = rng.random((4000, d))
            mu, sd = gp.predict(candidates, return_std=True)
            z = (min(ys) - mu) / np.maximum(sd, 1e-12)
            ei = (min(ys) - mu) * norm.cdf(z) + sd * norm.pdf(z)
            u = candidates[int(np.argmax(ei))]
            ys.append(tracker.evaluate(lo + (hi - lo) * u, False)[0])
            xs.append(u)
    except Budget:
        pass
    return tracker


def start_server(server, tmp, extra_args=()):
    port_file = os.path.join(tmp, "port")
    log = open(os.path.join(tmp, "server.log"), "w")
    proc = subprocess.Popen([server, "--listen=127.0.0.1:0", f"--db={tmp}/bench.db",
                             f"--port-file={port_file}", "--log-level=warning",
                             *extra_args],
                            stdout=log, stderr=log)
    while not os.path.exists(port_file):
        if proc.poll() is not None:
            raise RuntimeError("lago-server exited")
        time.sleep(0.05)
    return proc, f"127.0.0.1:{open(port_file).read().strip()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.path.join(ROOT, "build/server/lago-server"))
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS),
                        help="of " + ", ".join(list(PROBLEMS) + list(SHIFTED))
                        + " (the shifted ones only when named)")
    parser.add_argument("--methods", nargs="+", default=ALL_METHODS)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget-factor", type=float, default=20.0)
    parser.add_argument("--out", default=os.path.join(HERE, "runs.jsonl"))
    parser.add_argument("--fresh", action="store_true", help="empty --out first")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=STRATEGY:MODE[:key=value,...]: an extra server method "
                             "with strategy options (run it with --methods NAME)")
    args = parser.parse_args()
    for spec in args.variant:
        add_variant(spec)
    if args.fresh and os.path.exists(args.out):
        os.remove(args.out)
    # scikit-learn's hyperparameter fits warn on every run; the results say enough.
    warnings.filterwarnings("ignore")
    build = os.path.dirname(os.path.dirname(os.path.abspath(args.server)))
    sys.path.insert(0, os.path.join(build, "python"))

    check()  # Every analytic gradient against finite differences first.
    done = set()
    if os.path.exists(args.out):
        with open(args.out) as f:
            for line in f:
                r = json.loads(line)
                done.add((r["problem"], r["method"], r["seed"]))
    with tempfile.TemporaryDirectory(prefix="lago-opt-") as tmp:
        proc, address = start_server(args.server, tmp)
        try:
            for name in args.problems:
                problem = find_problem(name)
                budget = args.budget_factor * problem.dim
                for method in args.methods:
                    for seed in range(args.seeds):
                        if (name, method, seed) in done:
                            continue
                        start = time.time()
                        if method in SERVER_METHODS:
                            tracker = run_server_method(method, problem, seed, budget, address)
                        elif method == "lbfgsb-multistart":
                            tracker = run_lbfgsb(problem, seed, budget)
                        elif method == "sklearn-gp-ei":
                            tracker = run_sklearn_gp_ei(problem, seed, budget)
                        else:
                            tracker = run_optuna(problem, seed, budget, method.split("-")[1])
                        regret = max(tracker.best - problem.minimum, 0.0)
                        record = {"problem": name, "method": method, "seed": seed,
                                  "budget": budget, "cost": tracker.cost,
                                  "log10_regret": math.log10(max(regret, 1e-12)),
                                  "seconds": time.time() - start, "trace": tracker.trace}
                        if tracker.kinds:
                            record["kinds"] = tracker.kinds
                            record["repeats"] = tracker.repeats
                        with open(args.out, "a") as f:
                            f.write(json.dumps(record) + "\n")
                        print(f"{name} {method} seed {seed}: log10 regret "
                              f"{record['log10_regret']:.2f} in {record['seconds']:.1f} s",
                              flush=True)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
