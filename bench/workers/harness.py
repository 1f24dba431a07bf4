"""What the worker benchmarks share: the server process, the client path, a
read-only look into the database, and the checks every run ends with.

The server is the real lago-server on a loopback port over a real SQLite file;
the clients are the real Python client (`lago`) from the build tree.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SERVER = os.path.join(ROOT, "build", "server", "lago-server")


def use_client_from(server):
    """Makes `import lago` find the Python client built next to `server`, in this
    process and in the processes it spawns."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(server)))
    path = os.path.join(build, "python")
    if path not in sys.path:
        sys.path.insert(0, path)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [path] + [p for p in [os.environ.get("PYTHONPATH")] if p])


def percentile(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[k]


class Server:
    """A lago-server process on `db`; start() again after kill() reuses the
    port, so clients reconnect to the same address."""

    def __init__(self, binary, db, log_path, extra_args=()):
        self.binary = binary
        self.db = db
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = 0

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=60.0):
        port_file = self.db + ".port"
        if os.path.exists(port_file):
            os.remove(port_file)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [self.binary, f"--listen=127.0.0.1:{self.port}", f"--db={self.db}",
                 f"--port-file={port_file}", "--log-level=warning"] + self.extra_args,
                stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lago-server exited with {self.proc.returncode}; "
                                   f"see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"lago-server did not start; see {self.log_path}")
            time.sleep(0.01)
        with open(port_file) as f:
            self.port = int(f.read())
        return self

    def kill(self):
        """SIGKILL: no shutdown, no flush; what is on disk is all that is left."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


def read_database(db):
    """Every study's trials and observations, read through a separate
    read-only connection: {study: {trial_id: row}} plus the integrity check."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        studies = dict(con.execute("SELECT id, name FROM studies"))
        out = {name: {} for name in studies.values()}
        for sid, tid, state, kind, x in con.execute(
                "SELECT study_id, trial_id, state, kind, x FROM trials"):
            out[studies[sid]][tid] = {"state": state, "kind": kind, "x": x,
                                      "observed": False, "value": None}
        for sid, tid, failed, value in con.execute(
                "SELECT study_id, trial_id, failed, value FROM observations"):
            row = out[studies[sid]].setdefault(tid, {"state": None, "kind": None, "x": None})
            row["observed"] = True
            row["failed"] = bool(failed)
            row["value"] = value
        return out, integrity
    finally:
        con.close()


def check(db, acknowledged, received, repeat_kinds=("gradient_at_incumbent",)):
    """The invariants of a multi-worker run, from the database itself.

    acknowledged: [(study, trial_id, value)] for every observe that returned OK.
    received: [(study, trial_id, client_id)] for every trial a suggest returned
    (a client that asked again and got its own pending trial back lists it once).
    Returns a dict of counts; every count but `trials` must be zero.
    """
    studies, integrity = read_database(db)
    counts = {"trials": sum(len(t) for t in studies.values()),
              "integrity_errors": 0 if integrity == "ok" else 1,
              "duplicate_trial_ids": 0, "duplicate_points": 0,
              "lost_observations": 0, "trials_in_two_states": 0,
              "ids_not_dense": 0}
    seen = {}
    for study, tid, client in received:
        if (study, tid) in seen and seen[(study, tid)] != client:
            counts["duplicate_trial_ids"] += 1
        seen[(study, tid)] = client
    for study, trials in studies.items():
        ids = sorted(trials)
        if ids != list(range(1, len(ids) + 1)):
            counts["ids_not_dense"] += 1
        points = {}
        for tid, row in trials.items():
            # A gradient-at-incumbent trial repeats a known point on purpose.
            if row["kind"] in repeat_kinds:
                continue
            points[row["x"]] = points.get(row["x"], 0) + 1
        counts["duplicate_points"] += sum(n - 1 for n in points.values())
        for row in trials.values():
            done = row["state"] in ("completed", "failed")
            if done != row["observed"]:
                counts["trials_in_two_states"] += 1
    for study, tid, value in acknowledged:
        row = studies.get(study, {}).get(tid)
        if row is None or not row["observed"] or row["value"] != value:
            counts["lost_observations"] += 1
    return counts


def write_report(out_dir, stem, report, markdown):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out_dir, stem + ".md"), "w") as f:
        f.write(markdown)
