#!/usr/bin/python3
"""What a model report costs through the server: GetBest with the model
(`study.model_best()`, which predicts at every completed trial and searches
the lowest mean) and Predict at every completed point, for two builds of
lago-server run back to back on the same studies.

Each study is a value-only `lago` study with `noise=1` of D parameters, given
N completed trials at once through `add_observations` (values of a noisy
bowl, seed 0); with --gradients each trial also carries its gradient (a
gradient-enhanced study, N (D + 1) model rows). The first report fits the
hyperparameters and stores them; that call is not timed. Then each build
answers `--repeats` model_best and predict calls, and the medians are
reported with their ratio (base / new) per study size. Both servers use
OpenBLAS's own kernels and, as by default, one OpenBLAS thread.

    git worktree add /tmp/old <base commit> && cmake -S /tmp/old -B /tmp/old/build \\
        -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/old/build --target lago-server
    /usr/bin/python3 bench/service/bench_model_report.py \\
        --base-server /tmp/old/build/server/lago-server --out bench/service/model_report
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench", "optimizers"))
sys.path.insert(0, os.path.join(ROOT, "build", "python"))
from bench_optimizers import start_server  # noqa: E402

# (D, N, gradients): trials of a study.
SIZES = [(4, 250, False), (4, 500, False), (4, 1000, False), (5, 100, True),
         (5, 200, True)]


def study_data(d, n, gradients):
    rng = np.random.default_rng(0)
    x = rng.random((n, d))
    values = ((x - 0.3) ** 2).sum(axis=1) + 0.01 * rng.standard_normal(n)
    grads = 2.0 * (x - 0.3) if gradients else None
    return x, values, grads


def time_server(server, d, n, gradients, repeats):
    import lago
    x, values, grads = study_data(d, n, gradients)
    with tempfile.TemporaryDirectory() as tmp:
        proc, address = start_server(server, tmp)
        try:
            with lago.Client(address, timeout=3600) as client:
                study = client.create_study(
                    "s", [(f"x{i}", 0.0, 1.0) for i in range(d)],
                    gradient_mode="enhanced" if gradients else "none",
                    strategy_options={"noise": "1"}, seed=0)
                for i in range(0, n, 500):
                    study.add_observations(
                        x[i:i + 500].tolist(), values[i:i + 500].tolist(),
                        gradients=None if grads is None else grads[i:i + 500].tolist())
                study.model_best()  # Fits and stores the hyperparameters.
                best, predict = [], []
                for _ in range(repeats):
                    t = time.perf_counter()
                    study.model_best()
                    best.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    study.predict(x.tolist())
                    predict.append(time.perf_counter() - t)
        finally:
            proc.terminate()
            proc.wait()
    return statistics.median(best) * 1e3, statistics.median(predict) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.path.join(ROOT, "build/server/lago-server"))
    parser.add_argument("--base-server", required=True)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", required=True, help="path without extension")
    args = parser.parse_args()
    os.environ.pop("OPENBLAS_CORETYPE", None)
    rows = []
    for d, n, gradients in SIZES:
        print(f"bench_model_report: d = {d}, {n} trials, gradients {gradients}",
              file=sys.stderr)
        base = time_server(args.base_server, d, n, gradients, args.repeats)
        new = time_server(args.server, d, n, gradients, args.repeats)
        rows.append({"d": d, "trials": n, "gradients": gradients,
                     "model_rows": n * (d + 1 if gradients else 1),
                     "base_model_best_ms": base[0], "new_model_best_ms": new[0],
                     "base_predict_ms": base[1], "new_predict_ms": new[1]})
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), "unknown")
    base_commit = subprocess.run(
        ["git", "-C", os.path.dirname(os.path.abspath(args.base_server)), "rev-parse",
         "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    new_commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    run = {"command": " ".join(["bench/service/bench_model_report.py"] + sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d"), "cpu": cpu, "base": base_commit,
           "new": new_commit, "repeats": args.repeats, "rows": rows}
    with open(args.out + ".json", "w") as f:
        json.dump(run, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(f"Command: `{run['command']}`\n\n"
                f"Run {run['date']} on {cpu} (2 vCPUs, shared), base {base_commit}, new "
                f"{new_commit}; medians of {args.repeats} calls in ms, the two servers "
                "run back to back for each size. model_best: GetBest with the model; "
                "predict: Predict at every completed point.\n\n"
                "| d | trials | gradients | model rows | model_best base | new | base / new "
                "| predict base | new | base / new |\n"
                "|---|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['d']} | {r['trials']} | {'yes' if r['gradients'] else 'no'} | "
                    f"{r['model_rows']} | {r['base_model_best_ms']:.0f} | "
                    f"{r['new_model_best_ms']:.0f} | "
                    f"{r['base_model_best_ms'] / r['new_model_best_ms']:.2f} | "
                    f"{r['base_predict_ms']:.0f} | {r['new_predict_ms']:.0f} | "
                    f"{r['base_predict_ms'] / r['new_predict_ms']:.2f} |\n")


if __name__ == "__main__":
    main()
