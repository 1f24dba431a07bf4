#!/usr/bin/python3
"""Load test: many workers on one study, many studies at once, a LAGO study
shared by several workers; through real gRPC, the Python client and SQLite.

Scenarios (sizes are flags; the defaults are the issue's):
  one-study:  64 clients x 25 trials on one sobol study;
  parallel-studies: 8 sobol studies in parallel, 8 clients x 25 trials on each;
  lago:       8 clients x 15 trials on one lago study (gradient-enhanced).
Each client is a thread with its own channel and client id; the threads are
spread over spawned processes (8 threads each) so that Python's lock does not
serialise them. A client loops: suggest (with its client id and a request id),
evaluate, observe. Any exception is an error and the client goes on.

After each scenario the database itself is checked (harness.check): duplicate
trial ids, duplicate points, lost observations (every acknowledged value is
stored), trials whose state and observation disagree, ids that are not dense,
PRAGMA integrity_check. Throughput and client-side p50/p99 latency per RPC.

    /usr/bin/python3 bench/workers/load_test.py --out bench/workers
"""

import argparse
import math
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time

import harness


def styblinski_tang(x):
    value = 0.5 * sum(v ** 4 - 16 * v ** 2 + 5 * v for v in x)
    gradient = [0.5 * (4 * v ** 3 - 32 * v + 5) for v in x]
    return value, gradient


def client_loop(address, study_name, client_id, trials, results):
    import lago
    client = lago.Client(address, timeout=300)
    study = lago.Study(client, study_name)
    out = {"suggest": [], "observe": [], "received": [], "acknowledged": [], "errors": []}
    for _ in range(trials):
        try:
            t0 = time.perf_counter()
            trial = study.suggest(client_id=client_id)
            t1 = time.perf_counter()
            out["suggest"].append(t1 - t0)
            out["received"].append((study_name, trial.id, client_id))
            value, gradient = styblinski_tang(trial.x)
            study.observe(trial, value, gradient if trial.need_gradient else None)
            out["observe"].append(time.perf_counter() - t1)
            out["acknowledged"].append((study_name, trial.id, value))
        except Exception as e:  # Counted, reported, and the client goes on.
            out["errors"].append(repr(e)[:300])
    client.close()
    results.append(out)


def process_main(address, jobs, start_event, queue):
    """Runs `jobs` [(study, client_id, trials)] as threads once the start is given."""
    results = []
    threads = [threading.Thread(target=client_loop, args=(address, s, c, n, results))
               for s, c, n in jobs]
    start_event.wait()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(results)


def run_clients(address, jobs, threads_per_process=8):
    ctx = mp.get_context("spawn")  # A forked gRPC client is not supported.
    queue, start_event = ctx.Queue(), ctx.Event()
    groups = [jobs[i:i + threads_per_process] for i in range(0, len(jobs), threads_per_process)]
    procs = [ctx.Process(target=process_main, args=(address, g, start_event, queue))
             for g in groups]
    for p in procs:
        p.start()
    time.sleep(3.0)  # Imports and connections before the clock starts.
    t0 = time.perf_counter()
    start_event.set()
    results = [r for _ in procs for r in queue.get()]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    merged = {k: [v for r in results for v in r[k]] for k in results[0]}
    return merged, wall


def scenario(server_binary, tmp, name, studies, clients_per_study, trials, strategy,
             dimension, options, server_args=()):
    import lago
    db = os.path.join(tmp, f"{name}.db")
    server = harness.Server(server_binary, db, os.path.join(tmp, f"{name}.log"),
                            server_args).start()
    try:
        with lago.Client(server.address) as client:
            for s in range(studies):
                client.create_study(
                    f"{name}-{s}", {f"x{i}": (-5.0, 5.0) for i in range(dimension)},
                    strategy=strategy, strategy_options=options, seed=s + 1,
                    gradient_mode="enhanced" if strategy == "lago" else "none",
                    gradient_cost=1.0 if strategy == "lago" else 0.0)
        jobs = [(f"{name}-{s}", f"{name}-{s}-client-{c}", trials)
                for s in range(studies) for c in range(clients_per_study)]
        merged, wall = run_clients(server.address, jobs)
    finally:
        server.stop()
    counts = harness.check(db, merged["acknowledged"], merged["received"])
    rounds = len(merged["acknowledged"])
    return {
        "scenario": name, "strategy": strategy, "studies": studies,
        "clients": studies * clients_per_study, "trials_per_client": trials,
        "dimension": dimension, "rounds": rounds, "wall_seconds": wall,
        "rounds_per_second": rounds / wall,
        "suggest_p50_ms": 1e3 * harness.percentile(merged["suggest"], 50),
        "suggest_p99_ms": 1e3 * harness.percentile(merged["suggest"], 99),
        "observe_p50_ms": 1e3 * harness.percentile(merged["observe"], 50),
        "observe_p99_ms": 1e3 * harness.percentile(merged["observe"], 99),
        "errors": len(merged["errors"]),
        "error_samples": sorted(set(merged["errors"]))[:3],
        **counts,
    }


def markdown(report):
    lines = ["# Load test: concurrent workers through real gRPC", "",
             f"Command: `{report['command']}`", "",
             f"Run on {report['date']}, {report['cpus']} CPUs (shared machine). Latencies are "
             "at the client, per call, including Python and waiting for the study's turn.",
             "Server threads: " + (str(report["max_threads"]) if report["max_threads"]
                                   else "the default") + ".", "",
             "| scenario | strategy | studies | clients x trials | rounds | rounds/s "
             "| suggest p50 / p99 (ms) | observe p50 / p99 (ms) | errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        lines.append(
            f"| {r['scenario']} | {r['strategy']} | {r['studies']} | "
            f"{r['clients']} x {r['trials_per_client']} | {r['rounds']} | "
            f"{r['rounds_per_second']:.1f} | {r['suggest_p50_ms']:.1f} / "
            f"{r['suggest_p99_ms']:.1f} | {r['observe_p50_ms']:.1f} / "
            f"{r['observe_p99_ms']:.1f} | {r['errors']} |")
    lines += ["", "Checked in the database after each scenario:", "",
              "| scenario | trials | duplicate trial ids | duplicate points | lost observations "
              "| trials in two states | ids not dense | integrity errors |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        lines.append(
            f"| {r['scenario']} | {r['trials']} | {r['duplicate_trial_ids']} | "
            f"{r['duplicate_points']} | {r['lost_observations']} | "
            f"{r['trials_in_two_states']} | {r['ids_not_dense']} | {r['integrity_errors']} |")
    lines.append("")
    return "\n".join(lines)


FAILURE_COUNTS = ("errors", "duplicate_trial_ids", "duplicate_points", "lost_observations",
                  "trials_in_two_states", "ids_not_dense", "integrity_errors")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=harness.DEFAULT_SERVER)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--studies", type=int, default=8)
    parser.add_argument("--lago-clients", type=int, default=8)
    parser.add_argument("--lago-trials", type=int, default=15)
    parser.add_argument("--max-threads", type=int,
                        help="the server's --max-threads (default: the server's own)")
    parser.add_argument("--scenarios", nargs="+",
                        default=["one-study", "parallel-studies", "lago"])
    parser.add_argument("--out", help="folder for load.json and load.md")
    args = parser.parse_args()
    server_args = [f"--max-threads={args.max_threads}"] if args.max_threads else []
    harness.use_client_from(args.server)

    report = {"command": " ".join([os.path.relpath(sys.argv[0], harness.ROOT)] + sys.argv[1:]),
              "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
              "max_threads": args.max_threads, "results": []}
    per_study = max(1, args.clients // args.studies)
    with tempfile.TemporaryDirectory(prefix="lago-load-") as tmp:
        for name, studies, clients, trials, strategy, dimension, options in [
                ("one-study", 1, args.clients, args.trials, "sobol", 4, {}),
                ("parallel-studies", args.studies, per_study, args.trials, "sobol", 4, {}),
                ("lago", 1, args.lago_clients, args.lago_trials, "lago", 4,
                 {"initial_points": "8"})]:
            if name not in args.scenarios:
                continue
            result = scenario(args.server, tmp, name, studies, clients, trials, strategy,
                              dimension, options, server_args)
            print({k: (round(v, 2) if isinstance(v, float) else v)
                   for k, v in result.items()}, flush=True)
            report["results"].append(result)
    text = markdown(report)
    print(text)
    if args.out:
        harness.write_report(args.out, "load", report, text)
    failed = [(r["scenario"], k, r[k]) for r in report["results"] for k in FAILURE_COUNTS if r[k]]
    if failed:
        print(f"load_test: FAILED {failed}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
