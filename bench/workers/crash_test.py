#!/usr/bin/python3
"""Crash test: SIGKILL the server at random moments while workers run.

Eight workers (the Python client, with retries) share two studies, four on a
sobol study and four on a gradient-enhanced lago study. Each worker loops:
suggest with its client id, evaluate, observe; it reports every observation
the server acknowledged the moment the call returns. A killer sends SIGKILL
to the server after a random pause, `--kills` times. While the server is
dead it checks the database through a read-only connection:
  - every observation acknowledged so far is stored, with its value;
  - PRAGMA integrity_check is "ok";
  - no trial is in two states (a state and an observation that disagree);
  - trial ids are dense and no point is handed out twice;
then restarts the server on the same port and waits until the studies go on
(a new result after the restart) before the next random pause.

    /usr/bin/python3 bench/workers/crash_test.py --out bench/workers
"""

import argparse
import multiprocessing as mp
import os
import queue as queue_module
import random
import sys
import tempfile
import time

import harness

STUDIES = ("crash-sobol", "crash-lago")


def worker_main(address, study_name, worker, stop_event, acks, done):
    import lago
    # Retries span a restart: UNAVAILABLE is retried with the same request id.
    client = lago.Client(address, timeout=60, retries=40, backoff=0.05)
    study = lago.Study(client, study_name)
    client_id = f"worker-{worker}"
    errors, rounds = [], 0
    while not stop_event.is_set():
        try:
            trial = study.suggest(client_id=client_id)
            x = trial.x
            value = sum((v - 0.3) ** 2 for v in x)
            gradient = [2 * (v - 0.3) for v in x] if trial.need_gradient else None
            study.observe(trial, value, gradient)
            acks.put((study_name, trial.id, value))
            rounds += 1
        except Exception as e:  # Counted; the worker goes on.
            errors.append(repr(e)[:300])
            time.sleep(0.1)
    client.close()
    done.put((worker, rounds, errors))


def drain(q, into):
    while True:
        try:
            into.append(q.get(timeout=0.2))
        except queue_module.Empty:
            return


def completed_counts(db):
    studies, _ = harness.read_database(db)
    return {name: sum(1 for r in trials.values() if r["observed"])
            for name, trials in studies.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=harness.DEFAULT_SERVER)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--min-pause", type=float, default=0.3,
                        help="shortest time the server runs between kills (s)")
    parser.add_argument("--max-pause", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="folder for crash.json and crash.md")
    args = parser.parse_args()
    harness.use_client_from(args.server)
    import lago
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="lago-crash-") as tmp:
        db = os.path.join(tmp, "crash.db")
        server = harness.Server(args.server, db, os.path.join(tmp, "server.log")).start()
        with lago.Client(server.address) as client:
            client.create_study(STUDIES[0], {"x": (0, 1), "y": (0, 1), "z": (0, 1)},
                                strategy="sobol", seed=1)
            client.create_study(STUDIES[1], {"x": (0, 1), "y": (0, 1)}, strategy="lago",
                                gradient_mode="enhanced", gradient_cost=1.0, seed=2,
                                # The quadratic is solved quickly; without
                                # this the strategy would end the study early.
                                strategy_options={"initial_points": "6", "early_stop": "0"})
        ctx = mp.get_context("spawn")
        stop_event, acks_q, done_q = ctx.Event(), ctx.Queue(), ctx.Queue()
        procs = [ctx.Process(target=worker_main,
                             args=(server.address, STUDIES[w % 2], w, stop_event, acks_q,
                                   done_q))
                 for w in range(args.workers)]
        for p in procs:
            p.start()
        acknowledged, kills = [], []
        time.sleep(3.0)
        for k in range(args.kills):
            time.sleep(rng.uniform(args.min_pause, args.max_pause))
            server.kill()
            drain(acks_q, acknowledged)
            received = [(s, t, f"{s}-{t}") for s, t, _ in acknowledged]
            counts = harness.check(db, acknowledged, received)
            before = completed_counts(db)
            kills.append({"kill": k + 1, "acknowledged_so_far": len(acknowledged),
                          "completed_in_db": sum(before.values()), **counts})
            print(kills[-1], flush=True)
            t0 = time.monotonic()
            server.start()
            # The studies go on: wait for new results before the next pause.
            while (sum(completed_counts(db).values()) <= kills[-1]["completed_in_db"]
                   and time.monotonic() - t0 < 120):
                time.sleep(0.05)
            kills[-1]["seconds_to_next_result"] = time.monotonic() - t0
        # Let the studies go on after the last restart, then stop cleanly.
        time.sleep(3.0)
        stop_event.set()
        # Keep draining the acknowledgements while the workers finish: a
        # worker cannot exit while its queue's pipe is full.
        results, deadline = [], time.monotonic() + 300
        while len(results) < len(procs) and time.monotonic() < deadline:
            drain(acks_q, acknowledged)
            try:
                results.append(done_q.get(timeout=0.1))
            except queue_module.Empty:
                pass
        if len(results) < len(procs):
            raise RuntimeError(f"only {len(results)} of {len(procs)} workers finished")
        for p in procs:
            p.join()
        drain(acks_q, acknowledged)
        server.stop()
        received = [(s, t, f"{s}-{t}") for s, t, _ in acknowledged]
        final = harness.check(db, acknowledged, received)
        after = completed_counts(db)

    for i, k in enumerate(kills):
        nxt = kills[i + 1]["completed_in_db"] if i + 1 < len(kills) else sum(after.values())
        k["continued"] = nxt > k["completed_in_db"]
    worker_errors = [e for _, _, errs in results for e in errs]
    report = {
        "command": " ".join([os.path.relpath(sys.argv[0], harness.ROOT)] + sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
        "kills": kills, "final": final, "completed_per_study": after,
        "acknowledged": len(acknowledged),
        "worker_rounds": sum(r for _, r, _ in results),
        "worker_errors": len(worker_errors),
        "worker_error_samples": sorted(set(worker_errors))[:5],
    }
    bad_keys = ("duplicate_trial_ids", "duplicate_points", "lost_observations",
                "trials_in_two_states", "ids_not_dense", "integrity_errors")
    failures = [(k["kill"], key) for k in kills for key in bad_keys if k[key]]
    failures += [("final", key) for key in bad_keys if final[key]]
    failures += [(k["kill"], "did not continue") for k in kills if not k["continued"]]
    text = markdown(report, failures)
    print(text)
    if args.out:
        harness.write_report(args.out, "crash", report, text)
    if failures or worker_errors:
        print(f"crash_test: FAILED {failures} worker errors: {worker_errors[:3]}",
              file=sys.stderr)
        sys.exit(1)


def markdown(report, failures):
    kills = report["kills"]
    total = lambda key: sum(k[key] for k in kills)
    lines = [
        "# Crash test: SIGKILL while workers run", "",
        f"Command: `{report['command']}`", "",
        f"Run on {report['date']}, {report['cpus']} CPUs. {len(kills)} kills; "
        f"{report['acknowledged']} observations acknowledged; the workers saw "
        f"{report['worker_errors']} errors (every call that outlived a kill was retried "
        "with its request id).", "",
        "| kill | acknowledged so far | completed in the database | lost | duplicate ids "
        "| duplicate points | two states | integrity | continued | next result after (s) |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for k in kills:
        lines.append(
            f"| {k['kill']} | {k['acknowledged_so_far']} | {k['completed_in_db']} | "
            f"{k['lost_observations']} | {k['duplicate_trial_ids']} | {k['duplicate_points']} | "
            f"{k['trials_in_two_states']} | {'ok' if not k['integrity_errors'] else 'FAILED'} | "
            f"{'yes' if k['continued'] else 'NO'} | {k['seconds_to_next_result']:.2f} |")
    f = report["final"]
    lines += ["", f"After the last restart and a clean stop: {f['trials']} trials, "
              f"{f['lost_observations']} lost observations, {f['duplicate_points']} duplicate "
              f"points, {f['trials_in_two_states']} trials in two states, integrity "
              f"{'ok' if not f['integrity_errors'] else 'FAILED'}. Completed per study: "
              f"{report['completed_per_study']}.", "",
              f"Totals over the kills: lost {total('lost_observations')}, duplicate ids "
              f"{total('duplicate_trial_ids')}, duplicate points {total('duplicate_points')}, "
              f"two states {total('trials_in_two_states')}.", "",
              "Result: " + ("every check passed." if not failures else f"FAILED {failures}"), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
