"""Two lago-server processes on one database serve one study together.

Workers run gradient-enhanced lago through the Python client, each asking one
server for a point and telling the result to the other. Every trial id and
every point is handed out once, every result is stored with its own point, both
servers answer the same, and one of them killed with SIGKILL leaves the other
serving the study. It runs on a SQLite file and on a PostgreSQL database of the
test run's own server (tests/postgres/test_server.sh).
"""

import os
import sqlite3
import subprocess
import threading
import unittest
import uuid

import lago
from lago_server import LagoServer

PARAMETERS = {"x": (-2.0, 2.0), "y": (-1.0, 3.0)}


def value_and_gradient(x):
    return ((x[0] - 0.5) ** 2 + 3.0 * (x[1] - 1.0) ** 2,
            [2.0 * (x[0] - 0.5), 6.0 * (x[1] - 1.0)])


def postgres_admin_uri(test):
    """The URI of the PostgreSQL test server that ctest's fixture started;
    without one the test is skipped, or fails under CI."""
    uri_file = os.environ.get("LAGO_TEST_POSTGRES_URI_FILE")
    if not uri_file:
        why = "no PostgreSQL test server: run under ctest (fixture postgres)"
        if os.environ.get("CI"):
            test.fail(why)
        test.skipTest(why)
    with open(uri_file) as f:
        return f.read().strip()


def psql(uri, sql):
    """The rows of ``sql`` on ``uri``, as psql prints them unaligned."""
    return subprocess.run(["psql", uri, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                           "-c", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


class SharedDatabaseTest(unittest.TestCase):
    def database(self):
        """The database both servers open; None: a file the first server makes."""
        return None

    def count_observations(self, db):
        with sqlite3.connect(db) as conn:
            self.assertEqual(conn.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            return conn.execute("SELECT count(*) FROM observations").fetchone()[0]

    def test_two_servers_serve_one_study_without_losing_or_repeating_anything(self):
        with LagoServer(db=self.database()) as first, LagoServer(db=first.db) as second:
            clients = [lago.Client(first.address, timeout=30),
                       lago.Client(second.address, timeout=30)]
            studies = [c.create_study("shared", PARAMETERS, strategy="lago",
                                      gradient_mode="enhanced", seed=5)
                       for c in clients]
            workers, rounds = 4, 6
            errors = []

            def work(w):
                try:
                    for r in range(rounds):
                        asker = studies[(w + r) % 2]
                        teller = studies[(w + r + 1) % 2]
                        t = asker.suggest(client_id=f"worker-{w}")
                        value, gradient = value_and_gradient(t.x)
                        teller.observe(t.id, value, gradient=gradient)
                except Exception as e:  # reported below, with the worker
                    errors.append(f"worker {w}: {e!r}")

            threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])

            seen = [s.trials() for s in studies]
            self.assertEqual([(t.id, t.x, t.value) for t in seen[0]],
                             [(t.id, t.x, t.value) for t in seen[1]])
            trials = seen[0]
            self.assertEqual([t.id for t in trials], list(range(1, workers * rounds + 1)))
            points = set()
            for t in trials:
                self.assertEqual(t.state, "completed", t)
                value, gradient = value_and_gradient(t.x)
                self.assertEqual((t.value, t.gradient), (value, gradient),
                                 f"trial {t.id} holds another point's result")
                points.add(tuple(t.x))
            self.assertEqual(len(points), len(trials), "a point was handed out twice")
            # The design came first, then the strategy's own steps.
            self.assertEqual({t.kind for t in trials[:10]}, {"initial"})
            later = {t.kind for t in trials[10:]}
            self.assertTrue(later - {"initial"}, trials[10:])
            self.assertTrue(later <= {"initial", "informed", "global", "local"}, later)

            # One server dies; the other carries on from the stored study.
            first.kill()
            t = studies[1].suggest()
            self.assertEqual(t.id, workers * rounds + 1)
            value, gradient = value_and_gradient(t.x)
            studies[1].observe(t, value, gradient=gradient)
            self.assertEqual(studies[1].info().stats.completed, workers * rounds + 1)
            for c in clients:
                c.close()
            self.assertEqual(second.stop(), 0)
            self.assertEqual(self.count_observations(first.db), workers * rounds + 1)


class PostgresSharedDatabaseTest(SharedDatabaseTest):
    """The same on a new database of the PostgreSQL test server."""

    def setUp(self):
        self.admin = postgres_admin_uri(self)
        self.name = "lago_py_" + uuid.uuid4().hex[:12]
        psql(self.admin, f"CREATE DATABASE {self.name}")
        self.addCleanup(psql, self.admin, f"DROP DATABASE {self.name} WITH (FORCE)")

    def database(self):
        return self.admin.rsplit("/", 1)[0] + "/" + self.name

    def count_observations(self, db):
        return int(psql(db, "SELECT count(*) FROM observations"))


if __name__ == "__main__":
    unittest.main()
