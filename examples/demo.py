#!/usr/bin/python3
"""Demo: minimise the Branin function through a running lago-server.

    PYTHONPATH=build/python /usr/bin/python3 examples/demo.py --address 127.0.0.1:50051

Each evaluation prints one progress line; the end prints the best point found
next to Branin's known minimum, 0.397887 at (-pi, 12.275), (pi, 2.275) and
(9.42478, 2.475).
"""

import argparse
import math
import time

import lago


def branin(x):
    x1, x2 = x
    a, b, c = 1.0, 5.1 / (4 * math.pi ** 2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1 ** 2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=lago.DEFAULT_ADDRESS)
    parser.add_argument("--budget", type=int, default=64)
    parser.add_argument("--strategy", default="")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    start = time.monotonic()
    best_value = math.inf

    def progress(trial, best):
        nonlocal best_value
        mark = " *" if best is not None and best.value < best_value else ""
        best_value = best.value if best is not None else best_value
        value = f"{trial.value:10.4f}" if trial.value is not None else "    failed"
        print(f"  trial {trial.id:3d}/{args.budget} [{trial.kind:7s}] "
              f"x = ({trial.x[0]:8.4f}, {trial.x[1]:8.4f})  f = {value}  "
              f"best = {best_value:8.4f}{mark}", flush=True)
        return False

    print(f"Minimising Branin on [-5, 10] x [0, 15] with a budget of {args.budget} evaluations")
    result = lago.minimize(branin, [(-5.0, 10.0), (0.0, 15.0)], budget=args.budget,
                           address=args.address, strategy=args.strategy, seed=args.seed,
                           study=f"demo-branin-{int(time.time())}", callback=progress)
    elapsed = time.monotonic() - start
    print(f"Best point: x = ({result.x[0]:.5f}, {result.x[1]:.5f}), f = {result.fun:.6f} "
          f"(known minimum 0.397887); {result.nfev} evaluations in {elapsed:.2f} s; "
          f"study {result.study}")


if __name__ == "__main__":
    main()
