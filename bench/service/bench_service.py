#!/usr/bin/python3
"""Ask+tell round trips per second: Lago through its Python client against
Optuna's ask/tell on its RDB storage over a SQLite file, in one run.

Workload: W worker processes share one study of D continuous parameters; each
runs R rounds of "ask for a point, evaluate a cheap function, tell the value".
Lago: lago-server (sobol strategy) on a fresh SQLite file, one gRPC client per
process. Optuna: the same study shape in optuna.storages.RDBStorage over a
fresh SQLite file, QMCSampler(sobol), one Study object per process.

Reported per system and W: round trips per second (all rounds / wall time),
p50 and p99 latency of ask and of tell, and the number of errors. Each worker
counts an exception as an error and goes on with the next round.

    /usr/bin/python3 bench/service/bench_service.py --server build/server/lago-server \
        --out bench/service
"""

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench", "workers"))
from harness import percentile  # noqa: E402


def objective(x):
    return sum((v - 0.5) ** 2 for v in x)


def lago_worker(address, study_name, rounds, worker, start_event, queue):
    import lago
    client = lago.Client(address, timeout=60)
    study = lago.Study(client, study_name)
    ask, tell, errors = [], [], []
    start_event.wait()
    for _ in range(rounds):
        try:
            t0 = time.perf_counter()
            trial = study.suggest(client_id=f"worker-{worker}")
            t1 = time.perf_counter()
            study.observe(trial, objective(trial.x))
            t2 = time.perf_counter()
            ask.append(t1 - t0)
            tell.append(t2 - t1)
        except Exception as e:  # Counted, reported, and the worker goes on.
            errors.append(repr(e)[:200])
    client.close()
    queue.put((ask, tell, errors))


def optuna_worker(url, study_name, rounds, dimension, worker, start_event, queue):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=study_name, storage=url,
                              sampler=optuna.samplers.QMCSampler(qmc_type="sobol", seed=worker))
    space = {f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(dimension)}
    ask, tell, errors = [], [], []
    start_event.wait()
    for _ in range(rounds):
        try:
            t0 = time.perf_counter()
            trial = study.ask(space)
            t1 = time.perf_counter()
            x = [trial.params[f"x{i}"] for i in range(dimension)]
            study.tell(trial, objective(x))
            t2 = time.perf_counter()
            ask.append(t1 - t0)
            tell.append(t2 - t1)
        except Exception as e:
            errors.append(repr(e)[:200])
    queue.put((ask, tell, errors))


def run_workers(target, args_for, workers):
    # Fresh interpreters, not forks: a child forked after the parent used gRPC
    # (or started OpenBLAS threads) can hang, which gRPC does not support.
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start_event = ctx.Event()
    procs = [ctx.Process(target=target, args=args_for(w) + (start_event, queue))
             for w in range(workers)]
    for p in procs:
        p.start()
    time.sleep(3.0)  # Let every process import and connect before the clock starts.
    t0 = time.perf_counter()
    start_event.set()
    results = [queue.get() for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    ask = [v for r in results for v in r[0]]
    tell = [v for r in results for v in r[1]]
    errors = [e for r in results for e in r[2]]
    return {
        "workers": workers,
        "rounds": len(ask),
        "wall_seconds": wall,
        "round_trips_per_second": len(ask) / wall,
        "ask_p50_ms": 1e3 * percentile(ask, 50),
        "ask_p99_ms": 1e3 * percentile(ask, 99),
        "tell_p50_ms": 1e3 * percentile(tell, 50),
        "tell_p99_ms": 1e3 * percentile(tell, 99),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
    }


def use_client_beside(server):
    """Imports the Python client of the build tree that holds `server`, here and
    in the worker processes."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(server)))
    sys.path.insert(0, os.path.join(build, "python"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(build, "python")] + [p for p in [os.environ.get("PYTHONPATH")] if p])


def bench_lago(server, workers, rounds, dimension, tmp, servers=1, tag=None, db=None):
    """The Lago workload against `servers` lago-server processes on one fresh
    database (a file in `tmp` unless `db` names an empty one); worker w talks to
    server w % servers."""
    import lago
    tag = tag or str(workers)
    db = db or os.path.join(tmp, f"lago-{tag}.db")
    procs, addresses, logs = [], [], []
    try:
        for i in range(servers):
            port_file = os.path.join(tmp, f"port-{tag}-{i}")
            logs.append(open(os.path.join(tmp, f"lago-{tag}-{i}.log"), "w"))
            procs.append(subprocess.Popen(
                [server, "--listen=127.0.0.1:0", f"--db={db}", f"--port-file={port_file}",
                 "--log-level=warning"], stdout=logs[-1], stderr=logs[-1]))
            while not os.path.exists(port_file):
                if procs[-1].poll() is not None:
                    raise RuntimeError("lago-server exited")
                time.sleep(0.02)
            addresses.append(f"127.0.0.1:{open(port_file).read().strip()}")
        with lago.Client(addresses[0]) as client:
            client.create_study("bench", {f"x{i}": (0.0, 1.0) for i in range(dimension)},
                                strategy="sobol", seed=1)
        result = run_workers(
            lago_worker, lambda w: (addresses[w % servers], "bench", rounds, w), workers)
        with lago.Client(addresses[0]) as client:
            stats = client.get_study("bench").stats
            result["stored_observations"] = stats.completed
        result["servers"] = servers
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        for log in logs:
            log.close()
    return result


def bench_optuna(workers, rounds, dimension, tmp):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = f"sqlite:///{os.path.join(tmp, f'optuna-{workers}.db')}"
    study = optuna.create_study(study_name="bench", storage=url)
    result = run_workers(optuna_worker, lambda w: (url, "bench", rounds, dimension, w), workers)
    result["stored_observations"] = len(study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return result


def markdown(report):
    lines = [
        "# Service benchmark: ask+tell round trips, Lago vs Optuna RDB (SQLite)",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {report['machine']['cpus']} CPUs, Python {report['machine']['python']}, "
        f"Optuna {report['machine']['optuna']}; {report['dimension']} parameters; "
        f"run on {report['date']}.",
        "",
        "| system | workers | rounds | round trips/s | ask p50 / p99 (ms) | tell p50 / p99 (ms) "
        "| errors | stored |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['system']} | {r['workers']} | {r['rounds']} | "
            f"{r['round_trips_per_second']:.1f} | {r['ask_p50_ms']:.2f} / {r['ask_p99_ms']:.2f} | "
            f"{r['tell_p50_ms']:.2f} / {r['tell_p99_ms']:.2f} | {r['errors']} | "
            f"{r['stored_observations']} |")
    lines += ["", "Ratio of round trips per second, Lago / Optuna, measured in this run:", ""]
    for w, ratio in report["ratios"].items():
        lines.append(f"- {w} worker(s): {ratio:.1f}x")
    lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.path.join(ROOT, "build/server/lago-server"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--lago-rounds", type=int, default=400,
                        help="rounds per worker for Lago")
    parser.add_argument("--optuna-rounds", type=int, default=100,
                        help="rounds per worker for Optuna (it is slower)")
    parser.add_argument("--dimension", type=int, default=4)
    parser.add_argument("--out", help="folder for results.json and RESULTS.md")
    parser.add_argument("--fail-on-errors", action="store_true",
                        help="exit 1 when a Lago call failed or an observation is missing")
    args = parser.parse_args()

    use_client_beside(args.server)

    import optuna
    report = {
        "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "dimension": args.dimension,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "optuna": optuna.__version__},
        "results": [],
        "ratios": {},
    }
    with tempfile.TemporaryDirectory(prefix="lago-bench-") as tmp:
        for w in args.workers:
            lago_result = dict(system="lago", **bench_lago(
                args.server, w, args.lago_rounds, args.dimension, tmp))
            print(json.dumps(lago_result), flush=True)
            optuna_result = dict(system="optuna-rdb-sqlite", **bench_optuna(
                w, args.optuna_rounds, args.dimension, tmp))
            print(json.dumps(optuna_result), flush=True)
            report["results"] += [lago_result, optuna_result]
            report["ratios"][str(w)] = (lago_result["round_trips_per_second"]
                                        / optuna_result["round_trips_per_second"])
    text = markdown(report)
    print(text)
    if args.fail_on_errors:
        bad = [r for r in report["results"] if r["system"] == "lago"
               and (r["errors"] or r["stored_observations"] != r["rounds"])]
        if bad:
            print(f"bench_service: Lago errors or lost observations: {bad}", file=sys.stderr)
            sys.exit(1)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(report, f, indent=2)
        with open(os.path.join(args.out, "RESULTS.md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
