"""A server killed with SIGKILL and restarted on the same file loses nothing.

The Python client runs 30 suggest/observe rounds, the server is killed with
SIGKILL (no shutdown code runs), restarted on the same database and port, and
the same client handle goes on: the study and all 30 observations are there, and
trial ids and the Sobol sequence continue where they stopped instead of starting
over. The continuation is compared with an uninterrupted run of the same spec.
"""

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
                study = client.create_study("restart", PARAMETERS, seed=SEED)
                reference = []
                for _ in range(35):
                    t = study.suggest()
                    study.observe(t, branin_like(t.x))
                    reference.append(t)

        with LagoServer() as server:
            client = lago.Client(server.address, timeout=10, retries=8)
            study = client.create_study("restart", PARAMETERS, seed=SEED)
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
