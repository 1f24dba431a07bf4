"""Test problems for bench/optimizers: value, analytic gradient, box, optimum.

Definitions follow the Virtual Library of Simulation Experiments (Surjanovic &
Bingham) for Branin, Hartmann6, Styblinski-Tang, Levy, Rosenbrock and Ackley.
`check()` compares every gradient with central differences.
"""

import math

import numpy as np


class Problem:
    """`lower_bound`: a bound on f that its formula gives without solving for
    the minimum (what a user could pass to lago's lower_bound option)."""

    def __init__(self, name, dim, lower, upper, minimum, fun, lower_bound):
        self.name = name
        self.lower_bound = lower_bound
        self.dim = dim
        self.bounds = [(float(lower), float(upper))] * dim if np.isscalar(lower) else \
            list(zip(map(float, lower), map(float, upper)))
        self.minimum = minimum
        self._fun = fun

    def __call__(self, x):
        """(value, gradient) at x (a sequence of floats)."""
        value, gradient = self._fun(np.asarray(x, dtype=float))
        return float(value), [float(g) for g in gradient]


def _branin(x):
    a, b, c = 1.0, 5.1 / (4 * math.pi ** 2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    inner = x[1] - b * x[0] ** 2 + c * x[0] - r
    f = a * inner ** 2 + s * (1 - t) * math.cos(x[0]) + s
    g = [2 * a * inner * (-2 * b * x[0] + c) - s * (1 - t) * math.sin(x[0]), 2 * a * inner]
    return f, g


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def _hartmann6(x):
    e = _H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))
    return -e.sum(), (2 * e[:, None] * _H_A * (x - _H_P)).sum(axis=0)


def _styblinski_tang(x):
    return 0.5 * np.sum(x ** 4 - 16 * x ** 2 + 5 * x), 0.5 * (4 * x ** 3 - 32 * x + 5)


def _levy(x):
    w = 1 + (x - 1) / 4
    dw = 0.25
    f = math.sin(math.pi * w[0]) ** 2
    g = np.zeros_like(x)
    g[0] += 2 * math.sin(math.pi * w[0]) * math.cos(math.pi * w[0]) * math.pi * dw
    for i in range(len(x) - 1):
        s = math.sin(math.pi * w[i] + 1)
        f += (w[i] - 1) ** 2 * (1 + 10 * s ** 2)
        g[i] += (2 * (w[i] - 1) * (1 + 10 * s ** 2)
                 + (w[i] - 1) ** 2 * 20 * s * math.cos(math.pi * w[i] + 1) * math.pi) * dw
    s = math.sin(2 * math.pi * w[-1])
    f += (w[-1] - 1) ** 2 * (1 + s ** 2)
    g[-1] += (2 * (w[-1] - 1) * (1 + s ** 2)
              + (w[-1] - 1) ** 2 * 2 * s * math.cos(2 * math.pi * w[-1]) * 2 * math.pi) * dw
    return f, g


def _rosenbrock(x):
    f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return f, g


def _ackley(x):
    d = len(x)
    r = math.sqrt(np.sum(x ** 2) / d)
    c = np.sum(np.cos(2 * math.pi * x)) / d
    f = -20 * math.exp(-0.2 * r) - math.exp(c) + 20 + math.e
    g = np.zeros_like(x)
    if r > 0:
        g += 20 * 0.2 * math.exp(-0.2 * r) * x / (d * r)
    g += math.exp(c) * 2 * math.pi * np.sin(2 * math.pi * x) / d
    return f, g


# Lower bounds from the formulas: Branin's square plus s (1 - t) cos(x1) + s
# is at least s t > 0; Hartmann6 is at least -(sum of alpha) = -8.4; each
# Styblinski-Tang term (x^4 - 16 x^2 + 5 x) / 2 is at least (-64 - 25) / 2;
# Levy, Rosenbrock and Ackley are sums of non-negative terms (their bound is
# their minimum).
PROBLEMS = {
    "branin": Problem("branin", 2, [-5, 0], [10, 15], 0.39788735772973816, _branin, 0.0),
    "hartmann6": Problem("hartmann6", 6, 0.0, 1.0, -3.322368011415515, _hartmann6, -8.4),
    "styblinski-tang8": Problem("styblinski-tang8", 8, -5.0, 5.0, -39.16616570377142 * 8,
                                _styblinski_tang, -44.5 * 8),
    "levy6": Problem("levy6", 6, -10.0, 10.0, 0.0, _levy, 0.0),
    "rosenbrock5": Problem("rosenbrock5", 5, -5.0, 10.0, 0.0, _rosenbrock, 0.0),
    "ackley10": Problem("ackley10", 10, -32.768, 32.768, 0.0, _ackley, 0.0),
}


def _shifted(problem, centre):
    """`problem` moved so that its minimiser, at `centre` in the original
    coordinates, lies at u_i = 0.2 + 0.6 frac(i phi) of the box (phi the golden
    ratio): away from the box's centre and at a different place in every
    coordinate. Levy's and Ackley's minimisers are at or near the centre,
    where a method that favours the centre (a quadratic prior mean, CMA-ES
    started there) would find them for that reason alone."""
    lo = np.array([b[0] for b in problem.bounds])
    hi = np.array([b[1] for b in problem.bounds])
    phi = (1 + math.sqrt(5)) / 2
    u = 0.2 + 0.6 * np.array([(i * phi) % 1.0 for i in range(problem.dim)])
    offset = lo + u * (hi - lo) - centre
    return Problem(problem.name + "-shifted", problem.dim, lo, hi, problem.minimum,
                   lambda x: problem._fun(x - offset), problem.lower_bound)


# Not in the main table: runs ask for them with --problems.
SHIFTED = {p.name: p for p in (_shifted(PROBLEMS["levy6"], 1.0),
                               _shifted(PROBLEMS["ackley10"], 0.0))}


def problem(name):
    """The problem called `name`, shifted or not."""
    return PROBLEMS[name] if name in PROBLEMS else SHIFTED[name]


def check():
    """Every analytic gradient against central differences at random points."""
    rng = np.random.default_rng(0)
    for p in list(PROBLEMS.values()) + list(SHIFTED.values()):
        lo = np.array([b[0] for b in p.bounds])
        hi = np.array([b[1] for b in p.bounds])
        for _ in range(5):
            x = lo + (hi - lo) * rng.random(p.dim)
            value, g = p(x)
            assert value >= p.lower_bound, (p.name, value)
            for j in range(p.dim):
                h = 1e-6 * max(1.0, abs(x[j]))
                e = np.zeros(p.dim)
                e[j] = h
                numeric = (p(x + e)[0] - p(x - e)[0]) / (2 * h)
                assert abs(numeric - g[j]) <= 1e-4 * max(1.0, abs(numeric)), (p.name, j, g[j], numeric)
    return True


if __name__ == "__main__":
    check()
    print("gradients agree with finite differences for",
          ", ".join(list(PROBLEMS) + list(SHIFTED)))
