"""A server killed with SIGKILL and restarted on the same file loses nothing.

The Python client runs 30 suggest/observe rounds, the server is killed with
SIGKILL (no shutdown code runs), restarted on the same database and port, and
the same client handle goes on: the study and all 30 observations are there, and
trial ids and the Sobol sequence continue where they stopped instead of starting
over. The continuation is compared with an uninterrupted run of the same spec.
"""

import math
import sqlite3
import unittest

import lago
from lago_server import LagoServer

PARAMETERS = {"x": (-5.0, 10.0), "y": (0.0, 15.0), "z": (-1.0, 1.0)}
SEED = 2024


def branin_like(x):
    return (x[1] - 0.129 * x[0] ** 2 + 1.59 * x[0] - 6) ** 2 + 10 * x[2] ** 2


class RestartTest(unittest.TestCase):
    def test_sigkill_and_restart_keeps_the_study_and_continues_the_sequence(self):
        # The uninterrupted run, on its own server and file.
        with LagoServer() as reference_server:
            with lago.Client(reference_server.address) as client:
                study = client.create_study("restart", PARAMETERS, seed=SEED,
                                            strategy="sobol")
                reference = []
                for _ in range(35):
                    t = study.suggest()
                    study.observe(t, branin_like(t.x))
                    reference.append(t)

        with LagoServer() as server:
            client = lago.Client(server.address, timeout=10, retries=8)
            study = client.create_study("restart", PARAMETERS, seed=SEED, strategy="sobol")
            observed = {}
            for _ in range(30):
                t = study.suggest()
                study.observe(t, branin_like(t.x))
                observed[t.id] = (t.x, branin_like(t.x))
            self.assertEqual(sorted(observed), list(range(1, 31)))

            server.kill()
            # Every acknowledged observation is already on disk.
            with sqlite3.connect(server.db) as db:
                self.assertEqual(db.execute("SELECT count(*) FROM observations").fetchone()[0], 30)
            server.start(port=server.port)

            info = study.info()
            self.assertEqual(info.stats.trials, 30)
            self.assertEqual(info.stats.completed, 30)
            for t in study.trials():
                x, value = observed[t.id]
                self.assertEqual(t.x, x)
                self.assertEqual(t.value, value)
                self.assertEqual(t.state, "completed")

            for expected in reference[30:]:
                t = study.suggest()
                self.assertEqual(t.id, expected.id)
                self.assertEqual(t.why["sequence_index"], expected.id - 1)
                self.assertEqual(t.x, expected.x, f"trial {t.id} left the Sobol sequence")
                study.observe(t, branin_like(t.x))
            self.assertEqual(study.best().value,
                             min(branin_like(t.x) for t in reference))
            client.close()
            self.assertEqual(server.stop(), 0)
            with sqlite3.connect(server.db) as db:
                self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")


if __name__ == "__main__":
    unittest.main()


def branin(x):
    a, b, c = 1.0, 5.1 / (4 * math.pi ** 2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    inner = x[1] - b * x[0] ** 2 + c * x[0] - r
    value = a * inner ** 2 + s * (1 - t) * math.cos(x[0]) + s
    gradient = [2 * a * inner * (-2 * b * x[0] + c) - s * (1 - t) * math.sin(x[0]), 2 * a * inner]
    return value, gradient


class LagoRestartTest(unittest.TestCase):
    """The lago strategy's state machine survives SIGKILL: the suggestions after
    a restart are the ones an uninterrupted run with the same seed makes."""

    ROUNDS, KILL_AT = 24, 15
    BOUNDS = {"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}

    def run_rounds(self, study, n):
        out = []
        for _ in range(n):
            t = study.suggest()
            value, gradient = branin(t.x)
            study.observe(t, value, gradient=gradient if t.need_gradient else None)
            out.append(t)
        return out

    def test_sigkill_and_restart_gives_the_same_next_suggestions(self):
        with LagoServer() as reference_server:
            with lago.Client(reference_server.address) as client:
                study = client.create_study("lago-restart", self.BOUNDS, seed=5,
                                            gradient_mode="on_request")
                reference = self.run_rounds(study, self.ROUNDS)
        kinds = {t.kind for t in reference}
        self.assertTrue({"initial", "informed", "gradient_at_incumbent"} <= kinds, kinds)
        self.assertTrue(kinds & {"local", "global"}, kinds)

        with LagoServer() as server:
            client = lago.Client(server.address, timeout=30, retries=8)
            study = client.create_study("lago-restart", self.BOUNDS, seed=5,
                                        gradient_mode="on_request")
            first = self.run_rounds(study, self.KILL_AT)
            server.kill()
            server.start(port=server.port)
            rest = self.run_rounds(study, self.ROUNDS - self.KILL_AT)
            for mine, theirs in zip(first + rest, reference):
                self.assertEqual(mine.id, theirs.id)
                self.assertEqual(mine.x, theirs.x, f"trial {mine.id} differs after the restart")
                self.assertEqual(mine.kind, theirs.kind)
                self.assertEqual(mine.need_gradient, theirs.need_gradient)
                self.assertEqual(mine.why, theirs.why)
            client.close()
