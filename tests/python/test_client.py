"""The Python client, lago.minimize and the lago CLI against a real lago-server."""

import csv
import io
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import unittest
import urllib.error
import urllib.request

import grpc

import lago
from lago_server import SERVER, LagoServer, health

CLI = os.environ.get("LAGO_CLI", "build/bin/lago")


def assert_flag_rejected(test, flag, values):
    """lago-server --FLAG=VALUE exits with status 2 and names the flag and the
    value, for each of `values`."""
    for bad in values:
        with test.subTest(flag=flag, bad=bad), LagoServer() as spare:
            proc = subprocess.run([SERVER, f"--db={spare.db}", f"--{flag}={bad}"],
                                  capture_output=True, text=True, timeout=30)
            test.assertEqual(proc.returncode, 2)
            test.assertIn(f'--{flag}: "{bad}" is not', proc.stderr)


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LagoServer().start()
        cls.client = lago.Client(cls.server.address, timeout=20)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()
        cls.server.__exit__()

    def test_suggest_observe_best(self):
        study = self.client.create_study("py-basic", {"x": (-2.0, 2.0), "y": (0.0, 1.0)}, seed=3)
        for _ in range(6):
            t = study.suggest()
            self.assertEqual(t.kind, "initial")
            self.assertFalse(t.need_gradient)
            self.assertTrue(-2.0 <= t.x[0] <= 2.0 and 0.0 <= t.x[1] <= 1.0)
            done = study.observe(t, t.x[0] ** 2 + t.x[1])
            self.assertEqual(done.state, "completed")
        trials = study.trials()
        self.assertEqual([t.id for t in trials], list(range(1, 7)))
        best = study.best()
        self.assertEqual(best.value, min(t.value for t in trials))
        self.assertEqual(study.info().stats.completed, 6)

    def test_errors_carry_the_code_and_the_field(self):
        with self.assertRaises(lago.LagoError) as e:
            self.client.create_study("py-bad", {"x": (1.0, 0.0)})
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("spec.parameters[0] (x): lower 1 must be below upper 0", e.exception.details)
        study = self.client.create_study("py-errors", {"x": (0.0, 1.0)})
        t = study.suggest()
        with self.assertRaises(lago.LagoError) as e:
            study.observe(t, 1.0, gradient=[1.0, 2.0])
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("gradient: has 2 entries", e.exception.details)
        with self.assertRaises(lago.LagoError) as e:
            self.client.study("py-missing")
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_budget_ends_suggestions(self):
        study = self.client.create_study("py-budget", {"x": (0.0, 1.0)}, budget=3)
        for _ in range(3):
            study.observe(study.suggest(), 1.0)
        with self.assertRaises(lago.LagoError) as e:
            study.suggest()
        self.assertEqual(e.exception.code, grpc.StatusCode.RESOURCE_EXHAUSTED)

    def test_add_observations_and_client_ids(self):
        study = self.client.create_study("py-import", {"x": (0.0, 1.0)})
        added = study.add_observations([[0.25], [0.75]], [3.0, 1.0])
        self.assertEqual([t.kind for t in added], ["imported", "imported"])
        self.assertEqual(study.best().x, [0.75])
        mine = study.suggest(client_id="station-1")
        self.assertEqual(study.suggest(client_id="station-1").id, mine.id)
        self.assertNotEqual(study.suggest(client_id="station-2").id, mine.id)
        batch = study.suggest(count=3)
        self.assertEqual(len({t.id for t in batch}), 3)

    def test_a_lower_bound_warps_and_a_value_below_it_is_logged(self):
        with self.assertRaises(lago.LagoError) as e:
            self.client.create_study("py-bound-bad", {"x": (0.0, 1.0)},
                                     strategy_options={"lower_bound": "none"})
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn('spec.strategy_options["lower_bound"]: "none" must be a finite number',
                      e.exception.details)
        study = self.client.create_study(
            "py-bound", {"x": (0.0, 1.0), "y": (0.0, 1.0)}, gradient_mode="enhanced",
            strategy_options={"lower_bound": "0", "warp_offset": "0.5",
                              "initial_points": "3"}, seed=2)
        # The third value breaks the bound by more than the offset.
        for value in (2.0, 1.0, -1.0):
            t = study.suggest()
            study.observe(t, value, gradient=[0.5, -0.5])
        after = study.suggest()
        self.assertNotEqual(after.kind, "initial")
        self.assertIn("study py-bound: 1 value(s) at or below lower_bound 0 - warp_offset 0.5",
                      self.server.log())

    def check_gradients(self, study, x, widths):
        """The mean and std gradients at x against central differences of the
        predictions (the model is the same in every call)."""
        p = study.predict([x])
        for j, w in enumerate(widths):
            h = 1e-5 * w
            up, down = list(x), list(x)
            up[j] += h
            down[j] -= h
            q = study.predict([up, down])
            for name, grad in (("mean", p.mean_gradient), ("std", p.std_gradient)):
                values = getattr(q, name)
                fd = (values[0] - values[1]) / (2 * h)
                with self.subTest(name=name, j=j):
                    self.assertAlmostEqual(grad[0][j], fd, delta=1e-5 * (1 + abs(fd)))

    def test_predict_interpolates_values_and_gradients_in_user_units(self):
        bounds = {"a": (-2.0, 2.0), "b": (0.0, 10.0)}
        study = self.client.create_study(
            "py-predict", bounds, direction="maximize", gradient_mode="enhanced",
            strategy_options={"initial_points": "5"}, seed=4)
        with self.assertRaises(lago.LagoError) as e:
            study.predict([[0.0, 1.0]])
        self.assertEqual(e.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn('"py-predict": the study has no results yet', e.exception.details)
        seen = []
        for _ in range(5):  # The design: every point joins the model.
            t = study.suggest()
            a, b = t.x
            value = 3.0 - (a - 0.5) ** 2 - 0.1 * (b - 3.0) ** 2 + 0.3 * math.sin(2 * a)
            gradient = [-2 * (a - 0.5) + 0.6 * math.cos(2 * a), -0.2 * (b - 3.0)]
            study.observe(t, value, gradient=gradient)
            seen.append((t.x, value, gradient))
        p = study.predict([x for x, _, _ in seen])
        self.assertEqual(p.model_points, 5)
        self.assertEqual(len(p.lengthscales), 2)
        self.assertTrue(all(ls > 0 for ls in p.lengthscales))
        # The study maximises: the mean is of the value, not of its negation,
        # and gradients are per user unit of each parameter.
        for i, (x, value, gradient) in enumerate(seen):
            self.assertAlmostEqual(p.mean[i], value, delta=1e-6 * (1 + abs(value)))
            self.assertLess(p.std[i], 1e-3)
            for j in range(2):
                self.assertAlmostEqual(p.mean_gradient[i][j], gradient[j], delta=1e-4)
        far = study.predict([[-1.3, 8.2]])
        self.assertGreater(far.std[0], 1e-2)
        self.check_gradients(study, [-1.3, 8.2], [4.0, 10.0])
        # Reading the model changes nothing: the stored state stays as it was.
        state = ("SELECT strategy_state.state FROM strategy_state"
                 " JOIN studies ON studies.id = study_id WHERE name = ?")
        with sqlite3.connect(self.server.db) as db:
            before = db.execute(state, ("py-predict",)).fetchall()
        study.predict([[0.0, 5.0]] * 1500)  # Two calls: at most 1000 points in each.
        with sqlite3.connect(self.server.db) as db:
            self.assertEqual(db.execute(state, ("py-predict",)).fetchall(), before)

    def test_predict_under_a_lower_bound_reports_the_log_normal(self):
        study = self.client.create_study(
            "py-predict-bound", {"x": (0.0, 2.0), "y": (-1.0, 1.0)}, gradient_mode="enhanced",
            strategy_options={"lower_bound": "0", "warp_offset": "0.1",
                              "initial_points": "4"}, seed=5)
        seen = []
        for _ in range(4):
            t = study.suggest()
            x, y = t.x
            value = 1.0 + (x - 1.0) ** 2 + 3.0 * y ** 2
            study.observe(t, value, gradient=[2 * (x - 1.0), 6.0 * y])
            seen.append((t.x, value))
        p = study.predict([x for x, _ in seen] + [[1.7, -0.6]])
        for i, (_, value) in enumerate(seen):
            self.assertAlmostEqual(p.mean[i], value, delta=1e-6 * value)
        # Off the data: above lower_bound - warp_offset, with spread.
        self.assertGreater(p.mean[4], -0.1)
        self.assertGreater(p.std[4], 1e-3)
        self.check_gradients(study, [1.7, -0.6], [2.0, 2.0])

    def test_a_known_noise_std_is_read_by_the_model(self):
        study = self.client.create_study(
            "py-known-noise", {"x": (0.0, 1.0), "y": (0.0, 4.0)},
            strategy_options={"initial_points": "6"}, seed=7)
        seen = []
        for i in range(6):  # The design: every point joins the model.
            t = study.suggest()
            x, y = t.x
            value = (x - 0.3) ** 2 + 0.1 * (y - 1.0) ** 2 + 0.4 * math.sin(5 * x * y)
            noise = 0.2 if i % 2 == 0 else None
            study.observe(t, value, noise_std=noise)
            seen.append((t.x, value, noise))
        p = study.predict([x for x, _, _ in seen])
        # The model passes through the exact values, and not through the noisy
        # ones, where it is still surer than one observation's noise.
        for i, (_, value, noise) in enumerate(seen):
            with self.subTest(point=i, noise_std=noise):
                if noise is None:
                    self.assertAlmostEqual(p.mean[i], value, delta=1e-6)
                else:
                    self.assertGreater(abs(p.mean[i] - value), 1e-3)
                    self.assertLess(p.std[i], noise)
        self.assertEqual([t.noise_std for t in study.trials()], [0.2, None] * 3)
        # Two imported measurements of one new point: the model holds their
        # precision-weighted mean there, nearer the more precise one.
        added = study.add_observations([[0.9, 3.5], [0.9, 3.5]], [1.0, 2.0],
                                       noise_stds=[0.1, 0.3])
        self.assertEqual([t.noise_std for t in added], [0.1, 0.3])
        q = study.predict([[0.9, 3.5]])
        self.assertEqual(q.model_points, 7)
        self.assertGreater(q.mean[0], 1.02)
        self.assertLess(q.mean[0], 1.2)
        with self.assertRaises(ValueError) as e:
            study.add_observations([[0.5, 1.0]], [1.0], noise_stds=[0.1, 0.2])
        self.assertEqual(str(e.exception), "xs and noise_stds must have the same length")
        with self.assertRaises(lago.LagoError) as e:
            study.add_observations([[0.5, 1.0]], [1.0], noise_stds=[-0.1])
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("observations[0].noise_std: -0.1", e.exception.details)

    def test_replicates_join_a_noisy_model_as_their_mean(self):
        # With noise = 1, values measured again at one point join the model
        # as their mean, so the model's mean there moves toward them (an
        # exact model would leave them out and stay where it was).
        study = self.client.create_study(
            "py-noisy-replicates", {"x": (0.0, 1.0), "y": (0.0, 1.0)},
            strategy_options={"noise": "1"}, seed=8)
        rng = random.Random(3)
        xs = [[rng.random(), rng.random()] for _ in range(20)]
        study.add_observations(
            xs, [(x - 0.3) ** 2 + (y - 0.6) ** 2 + rng.gauss(0.0, 0.05) for x, y in xs])
        once = study.predict([xs[0]])
        study.add_observations([xs[0]] * 3, [once.mean[0] + 0.5] * 3)
        thrice = study.predict([xs[0]])
        self.assertEqual(thrice.model_points, 20)
        self.assertGreater(thrice.mean[0], once.mean[0] + 0.1)

    def test_predictions_before_a_suggestion_fit_once_and_agree_after_a_restart(self):
        # Imported results and no suggestion: the first prediction fits the
        # hyperparameters, and the server keeps them in memory for the next
        # ones until the results change. Those are the predictions a fresh
        # fit makes, as a restarted server (which has not kept them) shows.
        xs = [[i / 45, (7 * i % 45) / 45] for i in range(45)]
        values = [(x - 0.3) ** 2 + (y - 0.6) ** 2 + 0.01 * math.sin(50 * x) for x, y in xs]
        at = [[0.31, 0.58], [0.9, 0.1]]
        with LagoServer() as server:
            with lago.Client(server.address, timeout=60) as client:
                study = client.create_study(
                    "py-fit-once", {"x": (0.0, 1.0), "y": (0.0, 1.0)},
                    strategy_options={"noise": "1"}, seed=2)
                study.add_observations(xs[:40], values[:40])
                first = (study.predict(at), study.model_best())
                self.assertEqual((study.predict(at), study.model_best()), first)
                study.add_observations(xs[40:], values[40:])
                grown = (study.predict(at), study.model_best())
                self.assertNotEqual(grown[0], first[0])
            server.kill()
            server.start()
            with lago.Client(server.address, timeout=60) as client:
                study = client.study("py-fit-once")
                self.assertEqual((study.predict(at), study.model_best()), grown)

    def test_the_model_recommends_the_trial_of_its_best_mean(self):
        # Noisy values of a hill with noise = 1, and one lucky draw far from
        # its top, a little above every other value: `best` is that draw,
        # `recommended` the completed trial where the model's mean is best,
        # which is not it.
        study = self.client.create_study(
            "py-recommended", {"x": (0.0, 1.0), "y": (0.0, 1.0)}, direction="maximize",
            strategy_options={"noise": "1"}, seed=9)
        rng = random.Random(5)
        xs = [[rng.random(), rng.random()] for _ in range(30)]
        xs[7] = [0.95, 0.05]
        values = [-(x - 0.3) ** 2 - (y - 0.6) ** 2 + rng.gauss(0.0, 0.05) for x, y in xs]
        values[7] = max(values) + 0.05
        study.add_observations(xs, values)
        m = study.model_best()
        self.assertEqual(m.best.id, 8)
        means = study.predict(xs).mean
        top = max(range(len(xs)), key=lambda i: means[i])
        self.assertNotEqual(top, 7)
        self.assertEqual(m.recommended.id, top + 1)
        self.assertEqual(m.recommended.x, xs[top])
        self.assertAlmostEqual(m.at_recommended.mean, means[top], delta=1e-9)
        self.assertLess(m.at_best.mean, means[top] - 0.1)  # The draw is not believed.
        self.assertEqual(m.recommended, study.model_best().recommended)

    def test_predict_errors_name_the_field(self):
        study = self.client.create_study("py-predict-errors", {"x": (0.0, 1.0), "y": (0.0, 1.0)},
                                         seed=6)
        t = study.suggest()
        study.observe(t, 1.0)
        cases = [
            ([[0.5]], "points[0].x: has 1 entries; the study has 2 parameters"),
            ([[0.5, 0.5], [0.5, 1.5]], "points[1].x[1] (y): 1.5 is outside [0, 1]"),
            ([[math.nan, 0.5]], "points[0].x[0] (x): nan is not finite"),
        ]
        for points, message in cases:
            with self.subTest(message=message), self.assertRaises(lago.LagoError) as e:
                study.predict(points)
            self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(message, e.exception.details)
        for count in (0, 1001):
            with self.subTest(count=count), self.assertRaises(lago.LagoError) as e:
                self.client._call("Predict", lago.client.pb.PredictRequest(
                    study=study.name, points=[lago.client.pb.Point(x=[0.5, 0.5])] * count))
            self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(f"points: {count} entries; 1 to 1000 needed", e.exception.details)
        sobol = self.client.create_study("py-predict-sobol", {"x": (0.0, 1.0)},
                                         strategy="sobol")
        sobol.observe(sobol.suggest(), 2.0)
        with self.assertRaises(lago.LagoError) as e:
            sobol.predict([[0.5]])
        self.assertEqual(e.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn('strategy "sobol" of "py-predict-sobol" keeps no model',
                      e.exception.details)
        with self.assertRaises(lago.LagoError) as e:
            self.client.study("py-predict-none").predict([[0.5]])
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_best_with_the_model_finds_its_optimum(self):
        study = self.client.create_study(
            "py-model-best", {"a": (-2.0, 2.0), "b": (0.0, 10.0)}, direction="maximize",
            gradient_mode="enhanced", strategy_options={"initial_points": "8"}, seed=7)
        with self.assertRaises(lago.LagoError) as e:
            study.model_best()
        self.assertEqual(e.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn('"py-model-best": the study has no results yet', e.exception.details)
        for _ in range(8):  # The design, which leaves the maximum unobserved.
            t = study.suggest()
            a, b = t.x
            study.observe(t, 3.0 - (a - 0.5) ** 2 - 0.1 * (b - 3.0) ** 2,
                          gradient=[-2 * (a - 0.5), -0.2 * (b - 3.0)])
        response = self.client._call("GetBest", lago.client.pb.GetBestRequest(study=study.name))
        self.assertFalse(response.HasField("model"))  # Only when asked for.
        m = study.model_best()
        self.assertEqual(m.best, study.best())
        self.assertEqual(m.model_points, 8)
        self.assertEqual(len(m.lengthscales), 2)
        # The model's view of the best trial: its value, in the study's direction.
        self.assertAlmostEqual(m.at_best.mean, m.best.value, delta=1e-6)
        self.assertLess(m.best.value, 2.9)
        # Its optimum: the maximum of this concave quadratic, (0.5, 3) with 3,
        # which no trial has come close to.
        self.assertAlmostEqual(m.optimum_x[0], 0.5, delta=0.05)
        self.assertAlmostEqual(m.optimum_x[1], 3.0, delta=0.5)
        self.assertAlmostEqual(m.at_optimum.mean, 3.0, delta=0.05)
        self.assertGreater(m.at_optimum.mean, m.at_best.mean)
        # A maximum of the mean: its gradient vanishes there (per user unit).
        for g in m.at_optimum.mean_gradient:
            self.assertLess(abs(g), 1e-3)
        # The same model Predict reads, and the same answer when asked again.
        p = study.predict([m.best.x, m.optimum_x])
        self.assertEqual([p.mean[0], p.std[0]], [m.at_best.mean, m.at_best.std])
        self.assertEqual([p.mean[1], p.std[1]], [m.at_optimum.mean, m.at_optimum.std])
        self.assertEqual(p.mean_gradient[1], m.at_optimum.mean_gradient)
        self.assertEqual(study.model_best(), m)
        sobol = self.client.create_study("py-model-best-sobol", {"x": (0.0, 1.0)},
                                         strategy="sobol")
        sobol.observe(sobol.suggest(), 2.0)
        self.assertEqual(sobol.best().value, 2.0)
        with self.assertRaises(lago.LagoError) as e:
            sobol.model_best()
        self.assertEqual(e.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn('strategy "sobol" of "py-model-best-sobol" keeps no model',
                      e.exception.details)

    def test_a_log_scale_parameter(self):
        # The optimum rate 1e-3 is the middle of [1e-5, 1e-1] in decades, and
        # the objective a quadratic in log10(rate): on a linear scale 99% of the
        # box would lie above 1e-3.
        def objective(x):
            rate, t = x
            value = (math.log10(rate) + 3.0) ** 2 + 0.01 * (t - 50.0) ** 2
            gradient = [2.0 * (math.log10(rate) + 3.0) / (rate * math.log(10.0)),
                        0.02 * (t - 50.0)]
            return value, gradient

        bounds = {"rate": (1e-5, 1e-1, "log"), "t": (20.0, 80.0)}
        study = self.client.create_study("py-log", bounds, gradient_mode="enhanced",
                                         strategy_options={"initial_points": "10"}, seed=8)
        self.assertEqual([p.scale for p in study.info().spec.parameters],
                         [lago.client.study_pb2.SCALE_LOG, lago.client.study_pb2.SCALE_LINEAR])
        design = []
        for i in range(24):
            t = study.suggest()
            self.assertTrue(1e-5 <= t.x[0] <= 1e-1 and 20.0 <= t.x[1] <= 80.0, t.x)
            if t.kind == "initial":
                design.append(t.x[0])
            study.observe(t, *objective(t.x))
        # The design is spread evenly in decades: about half of it below 1e-3.
        self.assertEqual(len(design), 10)
        self.assertGreaterEqual(sum(r < 1e-3 for r in design), 3)
        self.assertGreaterEqual(sum(r > 1e-3 for r in design), 3)
        best = study.best()
        self.assertLess(best.value, 1e-8)
        self.assertAlmostEqual(math.log10(best.x[0]), -3.0, delta=1e-4)
        # The model answers in user units: gradients per unit of rate, and
        # lengthscales in decades for rate.
        p = study.predict([[2e-2, 60.0]])
        value, gradient = objective([2e-2, 60.0])
        self.assertAlmostEqual(p.mean[0], value, delta=0.05 * value)
        self.assertAlmostEqual(p.mean_gradient[0][0], gradient[0], delta=0.05 * gradient[0])
        # Steps of 0.1% of the rate: smaller ones meet the rounding of the
        # variance (std is 2e-3 here), larger ones its curvature.
        self.check_gradients(study, [2e-2, 60.0], [2.0, 60.0])
        m = study.model_best()
        self.assertAlmostEqual(math.log10(m.optimum_x[0]), -3.0, delta=0.05)
        # The scale is part of the spec: the same spec opens the study, a
        # linear one is another study.
        self.assertEqual(self.client.create_study("py-log", bounds, gradient_mode="enhanced",
                                                  strategy_options={"initial_points": "10"},
                                                  seed=8).name, "py-log")
        with self.assertRaises(lago.LagoError) as e:
            self.client.create_study("py-log", {"rate": (1e-5, 1e-1), "t": (20.0, 80.0)},
                                     gradient_mode="enhanced",
                                     strategy_options={"initial_points": "10"}, seed=8)
        self.assertEqual(e.exception.code, grpc.StatusCode.ALREADY_EXISTS)
        with sqlite3.connect(self.server.db) as db:
            self.assertEqual(db.execute(
                "SELECT parameters.name, scale FROM parameters JOIN studies ON studies.id ="
                " study_id WHERE studies.name = 'py-log' ORDER BY position").fetchall(),
                [("rate", "log"), ("t", "linear")])
        with self.assertRaises(lago.LagoError) as e:
            self.client.create_study("py-log-bad", {"rate": (0.0, 1.0, "log")})
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("spec.parameters[0] (rate): lower 0 must be above 0 on a log scale",
                      e.exception.details)
        with self.assertRaises(ValueError):
            self.client.create_study("py-log-bad", {"rate": (1.0, 2.0, "log2")})
        bad = lago.client.study_pb2.StudySpec(
            parameters=[lago.client.study_pb2.Parameter(name="a", lower=1, upper=2, scale=7)])
        with self.assertRaises(lago.LagoError) as e:
            self.client._call("CreateStudy", lago.client.pb.CreateStudyRequest(
                name="py-log-bad", spec=bad))
        self.assertIn("spec.parameters[0].scale: 7 is not a scale", e.exception.details)

    def test_integer_parameters(self):
        # Two integers, one of them on a log scale, and a log-scale rate:
        # every suggestion holds whole numbers there, no point is evaluated
        # twice, and the run finds layers = 5 and batch near 64.
        def objective(x):
            layers, rate, batch = x
            return (0.1 * (layers - 5) ** 2 + (math.log10(rate) + 2.0) ** 2
                    + (math.log2(batch) - 6.0) ** 2)

        bounds = {"layers": (1, 8, "int"), "rate": (1e-4, 1e-1, "log"),
                  "batch": (8, 512, "log", "int")}
        study = self.client.create_study("py-int", bounds, seed=4)
        pb = lago.client.study_pb2
        self.assertEqual([(p.type, p.scale) for p in study.info().spec.parameters],
                         [(pb.PARAMETER_TYPE_INTEGER, pb.SCALE_LINEAR),
                          (pb.PARAMETER_TYPE_CONTINUOUS, pb.SCALE_LOG),
                          (pb.PARAMETER_TYPE_INTEGER, pb.SCALE_LOG)])
        points = []
        for _ in range(40):
            t = study.suggest()
            self.assertTrue(t.x[0].is_integer() and t.x[2].is_integer(), t.x)
            self.assertTrue(1 <= t.x[0] <= 8 and 8 <= t.x[2] <= 512, t.x)
            points.append(tuple(t.x))
            study.observe(t, objective(t.x))
        self.assertEqual(len(set(points)), len(points))
        # Seed 4 ends at (5, 0.0096, 63): 8e-4. Seeds 5 to 9 end between 1.6e-5
        # and 5e-3, all with layers = 5 and batch from 61 to 66.
        best = study.best()
        self.assertEqual(best.x[0], 5.0)
        self.assertTrue(60 <= best.x[2] <= 68, best.x)
        self.assertLess(best.value, 2e-3)
        # The model's optimum is on the grid too.
        m = study.model_best()
        self.assertTrue(m.optimum_x[0].is_integer() and m.optimum_x[2].is_integer())
        # The type is part of the spec.
        self.assertEqual(self.client.create_study("py-int", bounds, seed=4).name, "py-int")
        with self.assertRaises(lago.LagoError) as e:
            self.client.create_study("py-int", {"layers": (1, 8), "rate": (1e-4, 1e-1, "log"),
                                                "batch": (8, 512, "log", "int")}, seed=4)
        self.assertEqual(e.exception.code, grpc.StatusCode.ALREADY_EXISTS)
        with sqlite3.connect(self.server.db) as db:
            self.assertEqual(db.execute(
                "SELECT parameters.name, type FROM parameters JOIN studies ON studies.id ="
                " study_id WHERE studies.name = 'py-int' ORDER BY position").fetchall(),
                [("layers", "integer"), ("rate", "continuous"), ("batch", "integer")])
        # An imported point must hold whole numbers where the study does.
        with self.assertRaises(lago.LagoError) as e:
            study.add_observations([[2.5, 1e-2, 64]], [1.0])
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("observations[0].x[0] (layers): 2.5 is not a whole number",
                      e.exception.details)
        self.assertEqual(len(study.trials()), 40)
        # Predictions may ask between the whole numbers (the model is the
        # relaxation).
        self.assertEqual(len(study.predict([[2.5, 1e-2, 64]]).mean), 1)

    def test_integer_parameter_errors(self):
        cases = [
            ({"n": (0.5, 4, "int")}, {},
             "spec.parameters[0] (n): lower 0.5 is not a whole number"),
            ({"n": (0, 4, "int")}, {"gradient_mode": "on_request"},
             "spec.gradient_mode: GRADIENT_MODE_ON_REQUEST needs a continuous parameter, and "
             "every parameter is an integer or categorical, with no derivative; use "
             "GRADIENT_MODE_NONE"),
        ]
        for bounds, kwargs, message in cases:
            with self.subTest(message=message), self.assertRaises(lago.LagoError) as e:
                self.client.create_study("py-int-bad", bounds, **kwargs)
            self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(message, e.exception.details)
        for bad in [(0, 4, "int", "int"), (0, 4, "integer"), (1, 4, "log", "linear")]:
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                self.client.create_study("py-int-bad", {"n": bad})
        spec = lago.client.study_pb2.StudySpec(
            parameters=[lago.client.study_pb2.Parameter(name="a", lower=1, upper=2, type=7)])
        with self.assertRaises(lago.LagoError) as e:
            self.client._call("CreateStudy", lago.client.pb.CreateStudyRequest(
                name="py-int-bad", spec=spec))
        self.assertIn("spec.parameters[0].type: 7 is not a parameter type",
                      e.exception.details)
        self.assertNotIn("py-int-bad", [s.name for s in self.client.list_studies()])

    def test_a_small_integer_grid_ends_when_every_point_is_known(self):
        # 3 x 4 whole numbers: twelve distinct trials, then the study is done.
        study = self.client.create_study("py-int-grid", {"a": (0, 2, "int"),
                                                          "b": (-1, 2, "int")}, seed=1)
        points = []
        with self.assertRaises(lago.LagoError) as e:
            for _ in range(13):
                t = study.suggest()
                points.append(tuple(t.x))
                study.observe(t, (t.x[0] - 1) ** 2 + t.x[1] ** 2)
        self.assertEqual(e.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("no point of the search space is left to evaluate", e.exception.details)
        self.assertEqual(sorted(points), [(a, b) for a in (0.0, 1.0, 2.0)
                                          for b in (-1.0, 0.0, 1.0, 2.0)])
        self.assertEqual(study.best().x, [1.0, 0.0])

    def test_categorical_parameters(self):
        # A solvent among four, a temperature and a whole number of washes:
        # each solvent has its own best temperature, and acetone is best. The
        # run finds acetone near 40 degrees, never evaluates a point twice, and
        # every trial holds the index of its choice in x and the label in params.
        solvents = ["water", "ethanol", "acetone", "hexane"]
        offset = {"water": 0.8, "ethanol": 0.3, "acetone": 0.0, "hexane": 2.0}
        best_t = {"water": 80.0, "ethanol": 60.0, "acetone": 40.0, "hexane": 25.0}

        def objective(p):
            s = p["solvent"]
            return offset[s] + ((p["t"] - best_t[s]) / 30.0) ** 2 + 0.05 * (p["washes"] - 2) ** 2

        bounds = {"t": (20.0, 90.0), "solvent": solvents, "washes": (0, 4, "int")}
        study = self.client.create_study("py-cat", bounds, seed=3)
        pb = lago.client.study_pb2
        spec = study.info().spec
        self.assertEqual(spec.parameters[1].type, pb.PARAMETER_TYPE_CATEGORICAL)
        self.assertEqual(list(spec.parameters[1].choices), solvents)
        # The server sets the bounds to the indices of the first and last choice.
        self.assertEqual((spec.parameters[1].lower, spec.parameters[1].upper), (0.0, 3.0))
        points = []
        for _ in range(40):
            t = study.suggest()
            self.assertIn(t.x[1], (0.0, 1.0, 2.0, 3.0))
            self.assertEqual(t.params["solvent"], solvents[int(t.x[1])])
            self.assertEqual(t.params["t"], t.x[0])
            points.append(tuple(t.x))
            study.observe(t, objective(t.params))
        self.assertEqual(len(set(points)), len(points))
        best = study.best()
        self.assertEqual(best.params["solvent"], "acetone")
        self.assertEqual(best.params["washes"], 2.0)
        self.assertLess(best.value, 0.01)
        # The model's optimum is a choice too, and by its label.
        m = study.model_best()
        self.assertIn(m.optimum_params["solvent"], solvents)
        self.assertEqual(m.optimum_params["solvent"], solvents[int(m.optimum_x[1])])
        # Predict and import take a label or an index; the gradient along a
        # choice is 0.
        pred = study.predict([[40.0, "acetone", 2], [40.0, 2, 2]])
        self.assertEqual(pred.mean[0], pred.mean[1])
        self.assertEqual(pred.mean_gradient[0][1], 0.0)
        self.assertEqual(len(pred.lengthscales), 3)
        imported = study.add_observations([[50.0, "ethanol", 1]], [0.5])
        self.assertEqual((imported[0].x[1], imported[0].params["solvent"]), (1.0, "ethanol"))
        with self.assertRaises(ValueError) as v:
            study.predict([[40.0, "benzene", 2]])
        self.assertIn("xs[0][1] (solvent): 'benzene' is not one of", str(v.exception))
        with self.assertRaises(lago.LagoError) as e:
            study.add_observations([[50.0, 1.5, 1]], [0.5])
        self.assertIn("observations[0].x[1] (solvent): 1.5 is not the index of a choice "
                      "(0 to 3)", e.exception.details)
        # The labels are part of the spec, and in a table of the file.
        self.assertEqual(self.client.create_study("py-cat", bounds, seed=3).name, "py-cat")
        with self.assertRaises(lago.LagoError) as e:
            self.client.create_study("py-cat", dict(bounds, solvent=solvents[::-1]), seed=3)
        self.assertEqual(e.exception.code, grpc.StatusCode.ALREADY_EXISTS)
        with sqlite3.connect(self.server.db) as db:
            self.assertEqual(db.execute(
                "SELECT label FROM parameter_choices JOIN studies ON studies.id = study_id "
                "WHERE studies.name = 'py-cat' AND position = 1 ORDER BY choice").fetchall(),
                [(s,) for s in solvents])
            self.assertEqual(db.execute(
                "SELECT type FROM parameters JOIN studies ON studies.id = study_id "
                "WHERE studies.name = 'py-cat' AND position = 1").fetchall(), [("categorical",)])
        # A handle opened by name knows the labels as well.
        again = self.client.study("py-cat")
        self.assertEqual(again.best().params["solvent"], "acetone")

    def test_gradients_with_integer_and_categorical_parameters(self):
        # Gradients cover the continuous parameters; the entries along an
        # integer or a categorical parameter are 0. Ethanol with 3 washes at
        # t = 0.6, x = 0.25 is the minimum, 0. The run finds it, and its local
        # steps keep the solvent of a point evaluated before (they may change
        # the washes).
        solvents = ["water", "ethanol", "acetone", "hexane"]
        offset = {"water": 0.4, "ethanol": 0.0, "acetone": 0.3, "hexane": 5.0}
        best_t = {"water": 0.2, "ethanol": 0.6, "acetone": 0.8, "hexane": 0.5}

        def objective(p):
            s = p["solvent"]
            value = (offset[s] + 0.1 * (p["washes"] - 3) ** 2 + 3 * (p["t"] - best_t[s]) ** 2
                     + (p["x"] - 0.25) ** 2)
            return value, [6 * (p["t"] - best_t[s]), 0.0, 0.0, 2 * (p["x"] - 0.25)]

        bounds = {"t": (0.0, 1.0), "solvent": solvents, "washes": (0, 4, "int"),
                  "x": (-1.0, 1.0)}
        study = self.client.create_study("py-mixed-grad", bounds, gradient_mode="enhanced",
                                         seed=6)
        # A derivative along a choice or a whole number is refused, naming the
        # entry, and the trial stays pending.
        t = study.suggest()
        value, gradient = objective(t.params)
        for i, name, kind in ((1, "solvent", "a categorical"), (2, "washes", "an integer")):
            bad = list(gradient)
            bad[i] = 0.5
            with self.subTest(name=name), self.assertRaises(lago.LagoError) as e:
                study.observe(t, value, gradient=bad)
            self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(f"gradient[{i}] ({name}): 0.5 along {kind} parameter, which has no "
                          "derivative; send 0 there", e.exception.details)
        self.assertEqual([x.state for x in study.trials()], ["pending"])
        study.observe(t, value, gradient=gradient)
        seen = [t]
        for _ in range(44):
            t = study.suggest()
            self.assertTrue(t.need_gradient)
            if t.kind == "local":
                self.assertTrue(any(p.x[1] == t.x[1] for p in seen), t)
            value, gradient = objective(t.params)
            study.observe(t, value, gradient=gradient)
            seen.append(t)
        self.assertGreater(sum(t.kind == "local" for t in seen), 0)
        best = study.best()
        self.assertEqual((best.params["solvent"], best.params["washes"]), ("ethanol", 3.0))
        self.assertLess(best.value, 1e-6)
        stored = {x.id: x for x in study.trials()}
        self.assertEqual(stored[best.id].gradient[1:3], [0.0, 0.0])

    def test_categorical_parameter_errors(self):
        pb = lago.client.study_pb2
        cases = [
            ({"c": ["a"]}, {}, "spec.parameters[0] (c): 1 choices; a categorical parameter "
             "needs at least 2"),
            ({"c": ["a", "b", "a"]}, {}, "spec.parameters[0].choices[2]: \"a\" is used twice"),
            ({"c": ["a", ""]}, {}, "spec.parameters[0].choices[1]: \"\" must have 1 to 256"),
            ({"c": ["a", "b\tc"]}, {}, "holds a control character"),
            ({"n": (0, 4, "int"), "c": ["a", "b"]}, {"gradient_mode": "enhanced"},
             "spec.gradient_mode: GRADIENT_MODE_ENHANCED needs a continuous parameter"),
        ]
        for bounds, kwargs, message in cases:
            with self.subTest(message=message), self.assertRaises(lago.LagoError) as e:
                self.client.create_study("py-cat-bad", bounds, **kwargs)
            self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn(message, e.exception.details)
        raw = [
            (pb.Parameter(name="c", type=pb.PARAMETER_TYPE_CATEGORICAL, choices=["a", "b"],
                          upper=5), "spec.parameters[0] (c): bounds [0, 5] must be [0, 1]"),
            (pb.Parameter(name="x", upper=1, choices=["a", "b"]),
             "spec.parameters[0].choices (x): 2 choices; only a categorical parameter"),
        ]
        for parameter, message in raw:
            with self.subTest(message=message), self.assertRaises(lago.LagoError) as e:
                self.client._call("CreateStudy", lago.client.pb.CreateStudyRequest(
                    name="py-cat-bad", spec=pb.StudySpec(parameters=[parameter])))
            self.assertIn(message, e.exception.details)
        with self.assertRaises(ValueError) as v:
            self.client.create_study("py-cat-bad", {"batch": [16, 32]})
        self.assertIn("choice 16 is not a string", str(v.exception))
        self.assertNotIn("py-cat-bad", [s.name for s in self.client.list_studies()])

    def test_minimize_in_scipy_style(self):
        def sphere(x):
            return sum((v - 0.3) ** 2 for v in x)

        seen = []
        result = lago.minimize(sphere, [(-1.0, 1.0)] * 2, budget=64, seed=1,
                               address=self.server.address,
                               callback=lambda trial, best: seen.append(trial.id) and False)
        self.assertTrue(result.success)
        self.assertEqual(result.nfev, 64)
        self.assertEqual(result.nit, 64)
        self.assertEqual(seen, list(range(1, 65)))
        self.assertAlmostEqual(result.fun, sphere(result.x), places=15)
        self.assertLess(result.fun, 0.04)

    def test_minimize_with_gradients_ends_when_nothing_is_left_to_gain(self):
        def sphere(x):
            return (sum((v - 0.3) ** 2 for v in x), [2 * (v - 0.3) for v in x])

        result = lago.minimize(sphere, [(-1.0, 1.0)] * 2, jac=True, budget=200, seed=1,
                               address=self.server.address, options={"early_stop": "1"})
        # lago solves the sphere, then EI and the predicted improvement stay
        # below 1e-12 and it ends the study well before the budget.
        self.assertTrue(result.success)
        self.assertIn("stopped early", result.message)
        self.assertLess(result.nfev, 60)
        self.assertLess(result.fun, 1e-12)
        with lago.Client(self.server.address) as client:
            self.assertEqual(client.get_study(result.study).state, 2)  # DONE

    def test_minimize_with_a_log_scale_bound(self):
        result = lago.minimize(lambda x: (math.log10(x[0]) + 3.0) ** 2 + (x[1] - 0.5) ** 2,
                               [(1e-5, 1e-1, "log"), (0.0, 1.0)], budget=40, seed=2,
                               address=self.server.address)
        self.assertAlmostEqual(math.log10(result.x[0]), -3.0, delta=0.05)
        with lago.Client(self.server.address) as client:
            scales = [p.scale for p in client.get_study(result.study).spec.parameters]
        self.assertEqual(scales, [lago.client.study_pb2.SCALE_LOG,
                                  lago.client.study_pb2.SCALE_LINEAR])

    def test_minimize_with_an_integer_bound(self):
        seen = set()

        def fun(x):
            self.assertTrue(x[0].is_integer(), x)
            seen.add(tuple(x))
            return (x[0] - 7) ** 2 + (x[1] - 0.5) ** 2

        result = lago.minimize(fun, [(0, 10, "int"), (0.0, 1.0)], budget=30, seed=2,
                               address=self.server.address)
        self.assertEqual(result.x[0], 7.0)
        self.assertLess(result.fun, 1e-3)
        self.assertEqual(len(seen), result.nfev)
        with self.assertRaises(lago.LagoError) as e:
            lago.minimize(lambda x: (x[0] ** 2, [2 * x[0]]), [(0, 10, "int")], jac=True,
                          address=self.server.address)
        self.assertIn("use GRADIENT_MODE_NONE", e.exception.details)

    def test_minimize_with_a_categorical_bound(self):
        seen = set()
        offset = {"sgd": 1.0, "adam": 0.0, "lbfgs": 0.5}

        def fun(x):
            self.assertIn(x[1], offset)
            seen.add(tuple(x))
            return offset[x[1]] + (x[0] - 0.3) ** 2

        result = lago.minimize(fun, [(0.0, 1.0), ["sgd", "adam", "lbfgs"]], budget=25, seed=1,
                               address=self.server.address)
        self.assertEqual(result.x[1], "adam")
        self.assertLess(result.fun, 1e-3)
        self.assertEqual(len(seen), result.nfev)
        # With jac, the gradient's entry for the label is 0.
        result = lago.minimize(lambda x: (offset[x[1]] + (x[0] - 0.3) ** 2,
                                          [2 * (x[0] - 0.3), 0.0]),
                               [(0.0, 1.0), ["sgd", "adam", "lbfgs"]], jac=True, budget=30,
                               seed=1, address=self.server.address)
        self.assertEqual(result.x[1], "adam")
        self.assertLess(result.fun, 1e-6)
        self.assertEqual(result.njev, result.nfev)

    def test_minimize_with_gradients_and_early_stop(self):
        def value_and_gradient(x):
            return x[0] ** 2, [2 * x[0]]

        result = lago.minimize(value_and_gradient, [(-1.0, 1.0)], jac=True, budget=10,
                               address=self.server.address,
                               callback=lambda trial, best: trial.id >= 3)
        self.assertEqual(result.nit, 3)
        self.assertEqual(result.njev, 3)
        self.assertEqual(result.status, 1)
        self.assertEqual(result.jac, [2 * result.x[0]])

    def test_minimize_reports_non_finite_values_as_failures(self):
        result = lago.minimize(lambda x: math.nan if x[0] > 0 else x[0], [(-1.0, 1.0)],
                               budget=8, address=self.server.address)
        self.assertTrue(result.success)
        self.assertLessEqual(result.x[0], 0.0)

    def test_minimize_records_an_exception_as_a_failed_trial(self):
        def broken(x):
            raise RuntimeError("solver crashed")

        with self.assertRaises(RuntimeError):
            lago.minimize(broken, [(0.0, 1.0)], budget=5, study="py-raises",
                          address=self.server.address)
        [trial] = self.client.study("py-raises").trials()
        self.assertEqual(trial.state, "failed")
        self.assertIn("solver crashed", trial.failure_reason)

    def test_health_and_reflection(self):
        self.assertEqual(health(self.server.address), 1)
        with grpc.insecure_channel(self.server.address) as channel:
            reflect = channel.stream_stream(
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                request_serializer=lambda b: b, response_deserializer=lambda b: b)
            # ServerReflectionRequest{list_services: ""}: field 7, length 0.
            replies = list(reflect(iter([b"\x3a\x00"]), timeout=10))
        self.assertTrue(any(b"lago.v1.Lago" in r for r in replies))


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LagoServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.__exit__()

    def lago(self, *args, check=True):
        proc = subprocess.run([CLI, "--address", self.server.address, *args],
                              capture_output=True, text=True, timeout=60)
        if check:
            self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc

    def test_why_carries_the_weight_the_competition_gave_ei(self):
        # Rosenbrock's values span decades: the GP's EI promises more than its
        # global points deliver, and each failure halves EI's weight.
        client = lago.Client(self.server.address, timeout=60)
        self.addCleanup(client.close)
        study = client.create_study("py-why", {"x": (-5.0, 10.0), "y": (-5.0, 10.0)},
                                         strategy="lago", gradient_mode="enhanced", seed=3)
        for _ in range(40):
            t = study.suggest()
            x, y = t.x
            f = 100 * (y - x * x) ** 2 + (1 - x) ** 2
            g = [-400 * x * (y - x * x) - 2 * (1 - x), 200 * (y - x * x)]
            study.observe(t, f, g)
        weights = []
        for t in study.trials():
            if "acquisition_value" not in t.why:
                continue
            w = t.why["acquisition_weight"]
            self.assertTrue(0.0 < w <= 1.0, (t.id, w))
            weights.append(w)
            if t.why["winner"] == "global" and "predicted_improvement" in t.why:
                self.assertGreater(w * t.why["acquisition_value"],
                                   t.why["predicted_improvement"])
        self.assertTrue(weights)
        self.assertLess(min(weights), 0.1)
        rows = list(csv.DictReader(io.StringIO(self.lago("export", "py-why").stdout)))
        self.assertEqual(len(rows), 40)
        self.assertIn("ei_weight", rows[0])
        self.assertTrue(any(r["ei_weight"] for r in rows))

    def test_a_session_from_the_terminal(self):
        out = self.lago("create", "cli", "--param", "a:0:1", "--param", "b:-1:1",
                        "--budget", "10", "--seed", "2").stdout
        self.assertIn("cli: active, strategy lago, 2 parameters", out)
        out = self.lago("suggest", "cli", "--count", "2", "--json").stdout.splitlines()
        trials = [json.loads(line) for line in out]
        self.assertEqual([t["trial"] for t in trials], [1, 2])
        self.assertEqual(set(trials[0]["x"]), {"a", "b"})
        self.lago("observe", "cli", "1", "0.5", "--gradient", "1,2", "--noise-std", "0.05")
        self.lago("observe", "cli", "2", "--failed", "sensor offline")
        self.assertIn("best: trial 1, value 0.5", self.lago("best", "cli").stdout)
        # A value with its gradient costs 2 units, the failed evaluation 1.
        self.assertIn("budget 3/10", self.lago("status", "cli").stdout)
        table = self.lago("trials", "cli").stdout
        self.assertIn("completed", table)
        self.assertIn("failed", table)

        rows = list(csv.DictReader(io.StringIO(self.lago("export", "cli").stdout)))
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[0]["value"], "0.5")
        self.assertEqual(rows[0]["grad_b"], "2")
        self.assertEqual(rows[0]["noise_std"], "0.05")
        self.assertEqual(rows[1]["noise_std"], "")
        self.assertEqual(rows[1]["state"], "failed")
        self.assertEqual(rows[1]["failure_reason"], "sensor offline")
        path = os.path.join(self.server.tmp.name, "cli.json")
        self.lago("export", "cli", "--format", "json", "--out", path)
        with open(path) as f:
            doc = json.load(f)
        self.assertEqual(doc["name"], "cli")
        self.assertEqual([t["id"] for t in doc["trials"]], [1, 2])

    def test_watch_and_plot(self):
        with lago.Client(self.server.address) as client:
            study = client.create_study("watched", {"x": (-2.0, 2.0), "y": (-2.0, 2.0)},
                                        strategy="lago", gradient_mode="enhanced",
                                        strategy_options={"initial_points": "4"}, seed=3)
            for _ in range(12):
                t = study.suggest()
                x, y = t.x
                study.observe(t, (x - 0.5) ** 2 + (y + 0.25) ** 2 + 1.0,
                              [2 * (x - 0.5), 2 * (y + 0.25)])
            pending = study.suggest(client_id="robot-1")
        out = self.lago("watch", "watched", "--count", "2", "--interval", "0.1").stdout
        self.assertIn("trials 13: completed 12, pending 1", out)
        self.assertIn("results per minute", out)
        self.assertIn(f"{pending.id}:{pending.kind}/pending", out)
        self.assertIn("local/completed", out)  # The last steps show their kind.
        self.assertRegex(out, r"best: 1(\.0\d*)? \(trial \d+\)")
        self.assertEqual(out.count("watched  [active"), 2)

        png = os.path.join(self.server.tmp.name, "watched.png")
        proc = self.lago("plot", "watched", "--out", png)
        self.assertIn("wrote", proc.stderr)
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(png), 10000)

    def test_watch_and_the_browser_name_the_recommended_trial_of_noisy_values(self):
        # A noise=1 study with one lucky draw (as in
        # test_the_model_recommends_the_trial_of_its_best_mean): watch and the
        # study's page show the trial the model recommends beside the best
        # value; a study with exact values and a sobol study told noise_stds
        # (no model) say what they can.
        with lago.Client(self.server.address) as client:
            noisy = client.create_study("watched-noisy", {"x": (0.0, 1.0), "y": (0.0, 1.0)},
                                        strategy_options={"noise": "1"}, seed=9)
            rng = random.Random(5)
            xs = [[rng.random(), rng.random()] for _ in range(30)]
            xs[7] = [0.95, 0.05]
            values = [(x - 0.3) ** 2 + (y - 0.6) ** 2 + rng.gauss(0.0, 0.05) for x, y in xs]
            values[7] = min(values) - 0.05
            noisy.add_observations(xs, values)
            m = noisy.model_best()
            self.assertNotEqual(m.recommended.id, 8)
            exact = client.create_study("watched-exact", {"x": (0.0, 1.0), "y": (0.0, 1.0)},
                                        seed=9)
            exact.add_observations(xs[:8], values[:8])
            sobol = client.create_study("watched-sobol", {"x": (0.0, 1.0)}, strategy="sobol")
            sobol.observe(sobol.suggest(), 1.0, noise_std=0.1)
        r = m.recommended
        out = self.lago("watch", "watched-noisy", "--count", "2", "--interval", "0.1").stdout
        self.assertIn(f"best: {values[7]:.10g} (trial 8)", out)
        self.assertEqual(out.count(
            f"recommended (noisy values): trial {r.id}, model mean "
            f"{m.at_recommended.mean:.10g} std {m.at_recommended.std:.4g}, "
            f"value {r.value:.10g}, at x="), 2)
        out = self.lago("watch", "watched-exact", "--count", "1").stdout
        self.assertIn("best: ", out)
        self.assertNotIn("recommended", out)
        out = self.lago("watch", "watched-sobol", "--count", "1").stdout
        self.assertIn("recommended (noisy values): no model: study: strategy \"sobol\"", out)

        _, url = self.web(self.server.address, "--refresh", "0")
        status, page = self.get(url + "study/watched-noisy")
        self.assertEqual(status, 200)
        self.assertIn(f"<b>Best:</b> {values[7]:.10g} (trial 8)", page)
        self.assertIn(f"trial {r.id}, model mean {m.at_recommended.mean:.10g} ", page)
        status, page = self.get(url + "study/watched-exact")
        self.assertIn("<b>Best:</b> ", page)
        self.assertNotIn("Recommended", page)
        status, page = self.get(url + "study/watched-sobol")
        self.assertIn("Recommended: no model (study: strategy &quot;sobol&quot;", page)

    def test_a_log_scale_parameter_from_the_terminal(self):
        out = self.lago("create", "cli-log", "--param", "rate:1e-5:1e-1:log", "--param",
                        "t:20:80").stdout
        self.assertIn("cli-log: active, strategy lago, 2 parameters", out)
        with lago.Client(self.server.address) as client:
            scales = [p.scale for p in client.get_study("cli-log").spec.parameters]
        self.assertEqual(scales, [lago.client.study_pb2.SCALE_LOG,
                                  lago.client.study_pb2.SCALE_LINEAR])
        proc = self.lago("create", "cli-log-bad", "--param", "rate:0:1:log", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("lower 0 must be above 0 on a log scale", proc.stderr)
        proc = self.lago("create", "cli-log-bad", "--param", "rate:1:2:ln", check=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("expected NAME:LOWER:UPPER, then :log (a log scale) or :int",
                      proc.stderr)

    def test_an_integer_parameter_from_the_terminal(self):
        self.lago("create", "cli-int", "--param", "n:1:64:log:int", "--param", "x:0:1")
        with lago.Client(self.server.address) as client:
            params = client.get_study("cli-int").spec.parameters
        pb = lago.client.study_pb2
        self.assertEqual([(p.type, p.scale) for p in params],
                         [(pb.PARAMETER_TYPE_INTEGER, pb.SCALE_LOG),
                          (pb.PARAMETER_TYPE_CONTINUOUS, pb.SCALE_LINEAR)])
        out = self.lago("suggest", "cli-int").stdout
        self.assertRegex(out, r"trial 1 \[initial\]: n=\d+ x=")
        proc = self.lago("create", "cli-int-bad", "--param", "n:0:1.5:int", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("upper 1.5 is not a whole number", proc.stderr)
        proc = self.lago("create", "cli-int-bad", "--param", "n:0:4:int:int", check=False)
        self.assertEqual(proc.returncode, 2)

    def test_a_categorical_parameter_from_the_terminal(self):
        self.lago("create", "cli-cat", "--param", "x:0:1", "--param",
                  "solvent:choice:water,ethyl acetate,hexane")
        with lago.Client(self.server.address) as client:
            p = client.get_study("cli-cat").spec.parameters[1]
        self.assertEqual(p.type, lago.client.study_pb2.PARAMETER_TYPE_CATEGORICAL)
        self.assertEqual(list(p.choices), ["water", "ethyl acetate", "hexane"])
        out = self.lago("suggest", "cli-cat", "--json").stdout
        trial = json.loads(out)
        self.assertIn(trial["x"]["solvent"], ["water", "ethyl acetate", "hexane"])
        self.lago("observe", "cli-cat", "1", "0.5")
        out = self.lago("best", "cli-cat").stdout
        self.assertIn(f"solvent={trial['x']['solvent']}", out)
        csv_text = self.lago("export", "cli-cat").stdout
        row = list(csv.DictReader(io.StringIO(csv_text)))[0]
        self.assertEqual(row["solvent"], trial["x"]["solvent"])
        out = self.lago("predict", "cli-cat", "--at", "0.5,hexane").stdout
        self.assertIn("x=0.5 solvent=hexane: mean", out)
        proc = self.lago("predict", "cli-cat", "--at", "0.5,benzene", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("--at 1[1] (solvent): 'benzene' is not one of", proc.stderr)
        proc = self.lago("create", "cli-cat-bad", "--param", "c:choice:a", check=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("expected NAME:choice:LABEL1,LABEL2,...", proc.stderr)
        proc = self.lago("create", "cli-cat-bad", "--param", "c:choice:a,a", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn('spec.parameters[0].choices[1]: "a" is used twice', proc.stderr)

    def test_a_reader_that_stops_early_ends_the_listing_quietly(self):
        # `lago trials s | head -1`: more than a pipe's buffer of rows, and the
        # reader closes after the first line.
        client = lago.Client(self.server.address, timeout=60)
        self.addCleanup(client.close)
        study = client.create_study("cli-pipe", {"x": (0.0, 1.0)}, strategy="sobol")
        study.add_observations([[i / 2000] for i in range(2000)], [0.5] * 2000)
        proc = subprocess.Popen([CLI, "--address", self.server.address, "trials", "cli-pipe"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertIn(b"trial", proc.stdout.readline())
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
        self.assertEqual(proc.wait(timeout=60), 141, stderr)
        self.assertEqual(stderr, "")

    def test_strategy_options_and_predictions_from_the_terminal(self):
        out = self.lago("create", "cli-model", "--param", "a:0:1", "--gradient-mode",
                        "enhanced", "--option", "initial_points=2", "--option", "gamma=3").stdout
        self.assertIn("cli-model: active, strategy lago, 1 parameters", out)
        with lago.Client(self.server.address) as client:
            spec = client.get_study("cli-model").spec
        self.assertEqual(dict(spec.strategy_options), {"initial_points": "2", "gamma": "3"})
        proc = self.lago("create", "cli-bad", "--param", "a:0:1", "--option", "gamma=-1",
                         check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn('strategy_options["gamma"]', proc.stderr)
        proc = self.lago("create", "cli-bad", "--param", "a:0:1", "--option", "gamma",
                         check=False)
        self.assertIn("--option 'gamma': expected KEY=VALUE", proc.stderr)
        for trial, value, gradient in (("1", "2.5", "1"), ("2", "0.5", "-1")):
            self.lago("suggest", "cli-model")
            self.lago("observe", "cli-model", trial, value, "--gradient", gradient)
        out = self.lago("predict", "cli-model", "--at", "0.25", "--at", "0.75").stdout
        self.assertIn("model of 2 results, lengthscales a=", out)
        self.assertRegex(out, r"a=0\.25: mean \S+ std \S+ gradient \S+")
        rows = [json.loads(line) for line in self.lago(
            "predict", "cli-model", "--at", "0.25", "--json").stdout.splitlines()]
        self.assertEqual(rows[0]["x"], {"a": 0.25})
        self.assertEqual(len(rows[0]["mean_gradient"]), 1)
        proc = self.lago("predict", "cli-model", "--at", "2", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("points[0].x[0] (a): 2 is outside [0, 1]", proc.stderr)
        out = self.lago("best", "cli-model", "--model").stdout
        self.assertIn("best: trial 2, value 0.5, a=", out)
        self.assertRegex(out, r"model of 2 results at the best trial: mean 0\.5\d* std \S+\n")
        self.assertRegex(out, r"model optimum: mean \S+ std \S+, a=\S+\n")
        # An exact model passes through the values: its best mean at a trial
        # is the best trial's.
        self.assertRegex(out, r"best model mean at a trial: trial 2, value 0\.5, "
                         r"mean 0\.5\d* std \S+, a=\S+\n")

    def web(self, address, *args):
        """`lago web` on a free port: the process and its base URL."""
        proc = subprocess.Popen([CLI, "--address", address, "--timeout", "2", "web",
                                 "--listen", "127.0.0.1:0", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.wait, 30)
        self.addCleanup(proc.terminate)
        line = proc.stdout.readline()
        self.assertRegex(line, r"^lago web: serving http://127\.0\.0\.1:\d+/ \(read-only")
        return proc, line.split()[3]

    @staticmethod
    def get(url):
        """(HTTP status, page) of a GET."""
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return r.status, r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8")

    def test_a_read_only_view_in_the_browser(self):
        with lago.Client(self.server.address) as client:
            study = client.create_study("web-bowl", {"a": (-2.0, 2.0), "b": (0.0, 10.0)},
                                        gradient_mode="enhanced", seed=1)
            for _ in range(12):
                t = study.suggest()
                a, b = t.x
                study.observe(t, (a - 0.5) ** 2 + 0.1 * (b - 3.0) ** 2 + 0.01,
                              gradient=[2 * (a - 0.5), 0.2 * (b - 3.0)])
            study.fail(study.suggest(), "<script>alert(1)</script>")
            study.suggest(client_id="rig<2>")
            client.create_study("web-empty", {"x": (0.0, 1.0)})
            best = study.best()
            labels = ["plain", "<b>bold</b>"]
            cat = client.create_study("web-cat", {"x": (0.0, 1.0), "style": labels})
            for _ in range(4):
                t = cat.suggest()
                cat.observe(t, t.x[0] + t.x[1])
        _, url = self.web(self.server.address, "--refresh", "5")
        status, page = self.get(url)
        self.assertEqual(status, 200)
        self.assertIn('<meta http-equiv="refresh" content="5">', page)
        self.assertIn('<a href="/study/web-bowl">web-bowl</a>', page)
        self.assertIn('<a href="/study/web-empty">web-empty</a>', page)
        self.assertIn(f"<td>12</td><td>1</td><td>1</td><td>25</td><td>{best.value:.10g}</td>",
                      page)
        status, page = self.get(url + "study/web-bowl")
        self.assertEqual(status, 200)
        self.assertIn(f"<b>Best:</b> {best.value:.10g} (trial {best.id}) at a = ", page)
        # One point per completed trial, coloured by kind, and the best so far.
        self.assertEqual(page.count('<circle class="trial"'), 12)
        self.assertIn("trial 1 (initial): ", page)
        self.assertIn("<title>best so far</title>", page)
        # Text from clients is escaped, never markup.
        self.assertNotIn("<script>", page)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", page)
        self.assertIn("rig&lt;2&gt;", page)
        self.assertEqual(page.count("<tr><td>"), 14)  # Every trial, newest first.
        self.assertLess(page.index("<tr><td>14</td>"), page.index("<tr><td>1</td>"))
        status, page = self.get(url + "study/web-empty")
        self.assertEqual(status, 200)
        self.assertIn("No completed trials yet.", page)
        # A categorical parameter shows its labels, escaped, in the parameter
        # table and in every trial's row.
        status, page = self.get(url + "study/web-cat")
        self.assertEqual(status, 200)
        self.assertIn('<td class="l">categorical</td><td class="l">plain, '
                      "&lt;b&gt;bold&lt;/b&gt;</td>", page)
        self.assertNotIn("<b>bold</b>", page)
        self.assertEqual(page.count("<td>plain</td>") + page.count("<td>&lt;b&gt;bold"), 4)
        status, page = self.get(url + "study/nope")
        self.assertEqual(status, 404)
        self.assertIn("no study named &quot;nope&quot;", page)
        status, page = self.get(url + "studies")
        self.assertEqual(status, 404)
        self.assertIn("/studies: no such page", page)
        proc = self.lago("web", "--listen", "8080", check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("--listen '8080': expected HOST:PORT", proc.stderr)

    def test_the_browser_view_says_when_the_server_is_down(self):
        with LagoServer() as spare:
            _, url = self.web(spare.address, "--refresh", "0")
            status, page = self.get(url)
            self.assertEqual(status, 200)
            self.assertNotIn("http-equiv", page)
            spare.stop()
            status, page = self.get(url)
        self.assertEqual(status, 503)
        self.assertIn("<h1>UNAVAILABLE</h1>", page)

    def test_errors_exit_non_zero_with_the_message(self):
        proc = self.lago("observe", "nope", "1", "2.0", check=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("NOT_FOUND", proc.stderr)
        self.assertIn('no study named "nope"', proc.stderr)


class BlasThreadsTest(unittest.TestCase):
    def test_one_blas_thread_per_call_by_default_and_the_flag_is_checked(self):
        with LagoServer() as server:
            log = server.log()
            if "OpenBLAS" not in log:
                self.skipTest("built without OpenBLAS (LAGO_EIGEN_BLAS=OFF)")
            self.assertIn("with 1 thread per call", log)
            # A lago study (GP, trust region) suggests with one thread.
            client = lago.Client(server.address, timeout=60, retries=0)
            study = client.create_study("blas", {"x": (-1.0, 1.0), "y": (-1.0, 1.0)},
                                        strategy="lago", gradient_mode="enhanced")
            for _ in range(16):
                trial = study.suggest()
                study.observe(trial, sum(v * v for v in trial.x), [2 * v for v in trial.x])
            self.assertEqual(len(study.trials()), 16)
            self.assertTrue(any(t.kind not in ("initial", "") for t in study.trials()))
            client.close()
        with LagoServer(extra_args=["--blas-threads=0"]) as server:
            self.assertRegex(server.log(), r"with \d+ threads? per call")
        assert_flag_rejected(self, "blas-threads", ("-1", "two", "2000"))


class ModelCacheTest(unittest.TestCase):
    def test_a_server_without_room_for_models_suggests_the_same_points(self):
        # The kept models only save time: a server that may keep none
        # rebuilds each model and must suggest exactly the same points.
        runs = []
        for extra in ([], ["--model-cache-mb=0"]):
            with LagoServer(extra_args=extra) as server:
                client = lago.Client(server.address, timeout=60, retries=0)
                study = client.create_study("kept", {"x": (-1.0, 2.0), "y": (-1.0, 1.0)},
                                            strategy="lago", gradient_mode="enhanced", seed=3)
                points = []
                for _ in range(24):
                    trial = study.suggest()
                    x, y = trial.x
                    value = (x - 0.5) ** 2 + 2 * (y + 0.2) ** 2 + 0.1 * math.cos(5 * x)
                    study.observe(trial, value, [2 * (x - 0.5) - 0.5 * math.sin(5 * x),
                                                 4 * (y + 0.2)])
                    points.append(tuple(trial.x))
                runs.append(points)
                client.close()
        self.assertEqual(runs[0], runs[1])
        assert_flag_rejected(self, "model-cache-mb", ("-1", "lots", "1073741825"))


class ShutdownTest(unittest.TestCase):
    def test_sigterm_stops_gracefully_and_keeps_the_data(self):
        with LagoServer() as server:
            client = lago.Client(server.address, timeout=10, retries=0)
            study = client.create_study("graceful", {"x": (0.0, 1.0)})
            study.observe(study.suggest(), 0.25)
            client.close()
            self.assertEqual(server.stop(signal.SIGTERM), 0)
            self.assertIn("stopping", server.log())
            with sqlite3.connect(server.db) as db:
                self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
                self.assertEqual(db.execute("SELECT value FROM observations").fetchall(),
                                 [(0.25,)])


if __name__ == "__main__":
    unittest.main()
