#!/usr/bin/python3
"""A lab worker: ask lago-server for the next experiment, run it, report it.

Run one per station (robot, instrument, GPU); all share one study:

    PYTHONPATH=build/python /usr/bin/python3 examples/lab_worker.py \\
        --address 127.0.0.1:50051 --study reaction-yield --client-id station-1

What it does for you:
- Resume after a crash: the worker asks with its client id, and the server
  answers a client that still holds a pending trial with that same trial. Restart a
  crashed worker with the same --client-id and it picks up the experiment it
  was running (the log says "resuming trial N").
- Heartbeats: while an experiment runs, a thread renews the trial's lease
  every --heartbeat seconds, so a long experiment is not taken for a lost one.
  A worker that dies stops heartbeating; once the lease expires the trial is
  stale and its point may go to another worker. A late result is still kept.
- Retries: every call is retried while the server is unreachable (a restart,
  a network blip), with the same request id inside the client and with
  growing pauses (up to 30 s) here, so a result is never lost or stored twice.
- Failures: an experiment that raises is reported as a failed trial with the
  error as its reason, and the worker goes on.
- It stops when the study's budget is spent or the study is stopped.

Replace `run_experiment` with the call to your equipment. The sample
objective is a smooth "yield" of temperature, time and concentration with
its gradient (the study is gradient-enhanced; report gradient=None when
your experiment has none and create the study with gradient_mode="none").
"""

import argparse
import math
import os
import socket
import sys
import threading
import time

import lago

PARAMETERS = {"temperature_c": (20.0, 120.0), "time_min": (5.0, 240.0),
              "concentration_m": (0.05, 2.0)}


def run_experiment(x, seconds):
    """The sample experiment: minus the yield (the study minimises), with its
    gradient. Sleeps `seconds` to stand for the time the equipment takes."""
    time.sleep(seconds)
    t, m, c = x
    a = ((t - 78.0) / 30.0) ** 2 + ((math.log(m) - math.log(60.0)) / 0.8) ** 2 \
        + ((c - 0.8) / 0.5) ** 2
    value = -95.0 * math.exp(-0.5 * a)
    gradient = [-value * (t - 78.0) / 30.0 ** 2,
                -value * (math.log(m) - math.log(60.0)) / 0.8 ** 2 / m,
                -value * (c - 0.8) / 0.5 ** 2]
    return value, gradient


def log(client_id, text):
    print(f"{time.strftime('%H:%M:%S')} [{client_id}] {text}", flush=True)


def patiently(client_id, what, call):
    """Calls `call` until the server answers; UNAVAILABLE and
    DEADLINE_EXCEEDED mean "not now", anything else is an answer."""
    import grpc
    pause = 1.0
    while True:
        try:
            return call()
        except lago.LagoError as e:
            if e.code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            log(client_id, f"{what}: server unreachable ({e.code.name}); retrying in {pause:.0f} s")
            time.sleep(pause)
            pause = min(pause * 2, 30.0)


class Heartbeat:
    """Renews a trial's lease every `every` seconds until stopped."""

    def __init__(self, study, trial, every, client_id):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(study, trial, every, client_id),
                                        daemon=True)

    def _run(self, study, trial, every, client_id):
        while not self._stop.wait(every):
            try:
                study.heartbeat(trial)
            except lago.LagoError as e:  # The next beat tries again.
                log(client_id, f"heartbeat for trial {trial.id} failed: {e.code.name}")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main():
    import grpc
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=os.environ.get("LAGO_ADDRESS", lago.DEFAULT_ADDRESS))
    parser.add_argument("--study", default="reaction-yield")
    parser.add_argument("--client-id", default=os.environ.get("LAGO_CLIENT_ID")
                        or f"{socket.gethostname()}-worker",
                        help="stable per station: a restarted worker resumes its trial")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="cost units of the study when this worker creates it")
    parser.add_argument("--lease", type=float, default=120.0,
                        help="seconds a trial stays reserved without a heartbeat")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats")
    parser.add_argument("--evaluation-seconds", type=float, default=1.0,
                        help="how long the sample experiment takes")
    parser.add_argument("--max-trials", type=int, default=0,
                        help="stop after this many results (0: until the budget is spent)")
    parser.add_argument("--token-file", default=os.environ.get("LAGO_TOKEN_FILE"))
    parser.add_argument("--tls-ca", default=os.environ.get("LAGO_TLS_CA"))
    args = parser.parse_args()

    token = None
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read().strip()
    client = lago.Client(args.address, token=token, tls_ca=args.tls_ca, retries=4)
    cid = args.client_id
    # Every worker may create the study: an equal spec opens the existing one.
    study = patiently(cid, "create", lambda: client.create_study(
        args.study, PARAMETERS, strategy="lago", gradient_mode="enhanced", gradient_cost=1.0,
        budget=args.budget, seed=1, lease_seconds=args.lease))
    started = time.time()
    done = 0
    while not args.max_trials or done < args.max_trials:
        try:
            trial = patiently(cid, "suggest", lambda: study.suggest(client_id=cid))
        except lago.LagoError as e:
            if e.code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION):
                log(cid, f"no more experiments: {e.details}")
                break
            raise
        if trial.create_time is not None and trial.create_time < started:
            log(cid, f"resuming trial {trial.id} (suggested before this worker started)")
        point = ", ".join(f"{n}={v:.4g}" for n, v in zip(PARAMETERS, trial.x))
        log(cid, f"trial {trial.id} [{trial.kind}]: running {point}")
        try:
            with Heartbeat(study, trial, args.heartbeat, cid):
                value, gradient = run_experiment(trial.x, args.evaluation_seconds)
        except Exception as e:  # The equipment failed: say so and go on.
            patiently(cid, "fail", lambda: study.fail(trial, f"{type(e).__name__}: {e}"))
            log(cid, f"trial {trial.id} failed: {e}")
            continue
        patiently(cid, "observe", lambda: study.observe(
            trial, value, gradient if trial.need_gradient else None))
        done += 1
        best = patiently(cid, "best", study.best)
        log(cid, f"trial {trial.id}: value {value:.4f}; best so far {best.value:.4f} "
                 f"(trial {best.id})")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
