#!/usr/bin/python3
"""Cost to reach a target regret, from runs made with a larger budget.

A final regret says on which side of the budget a run ended; the cost at which
it first reached a target says how far it was. Run the methods with a budget
beyond the comparison's (bench_optimizers.py --budget-factor) into their own
file, then:

    /usr/bin/python3 bench/optimizers/bench_optimizers.py --seeds 20 \\
        --budget-factor 60 --problems rosenbrock5 \\
        --methods lbfgsb-multistart lago-enhanced lago-enhanced-lbfgs trust-region \\
        --variant lago-enhanced-lbfgs=lago:enhanced:update=lbfgs \\
        --out bench/optimizers/rosenbrock_long.jsonl
    /usr/bin/python3 bench/optimizers/time_to_target.py \\
        bench/optimizers/rosenbrock_long.jsonl --target 1e-3 \\
        --out bench/optimizers/rosenbrock_long

writes <out>.md and <out>.json: per problem and method, the cost units each
seed needed to reach a regret below the target (median and quartiles over the
seeds, a seed that never did counted as beyond the budget), how many reached it
within the run's budget and within 20d, the comparison's budget.
"""

import argparse
import json
from collections import defaultdict

import numpy as np

from summarize import METHOD_ORDER, PROBLEM_ORDER, load


def first_cost(trace, target):
    """The cost spent when the best-so-far regret first fell below `target`,
    None when it never did."""
    return next((cost for cost, regret in trace if regret < target), None)


def kinds_cell(records, target):
    """Median count of each kind of suggestion among the evaluations up to the
    target, over the seeds that reached it ("-" for methods without kinds)."""
    counts = defaultdict(list)
    reached = [r for r in records if "kinds" in r and first_cost(r["trace"], target) is not None]
    for r in reached:
        n = next(i for i, (_, regret) in enumerate(r["trace"]) if regret < target) + 1
        for kind in set(r["kinds"]):
            counts[kind].append(0)
        for kind in r["kinds"][:n]:
            counts[kind][-1] += 1
    if not reached:
        return "-"
    order = ["initial", "informed", "gradient_at_incumbent", "global", "local"]
    kinds = sorted(counts, key=lambda k: order.index(k) if k in order else len(order))
    return ", ".join(f"{k} {np.median(counts[k] + [0] * (len(reached) - len(counts[k]))):g}"
                     for k in kinds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs")
    parser.add_argument("--target", type=float, default=1e-3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    runs = load(args.runs)
    problems = [p for p in PROBLEM_ORDER if any(k[0] == p for k in runs)]
    methods = sorted({m for _, m in runs},
                     key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER
                                    else len(METHOD_ORDER), m))
    result = defaultdict(dict)
    lines = [f"# Cost to reach a regret of {args.target:g}", "",
             f"Command: `/usr/bin/python3 bench/optimizers/time_to_target.py {args.runs} "
             f"--target {args.target:g} --out {args.out}` (the commands that made the runs: "
             "the script's docstring and RESULTS.md).", "",
             "Cost units (a value 1, a gradient 1) at which each seed's best-so-far regret "
             f"first fell below {args.target:g}: median [first, third quartile] over the "
             "seeds (of an even number, the lower middle one), a seed that never did "
             "counted as beyond the run's budget; then how "
             "many seeds reached the target within the comparison's budget of 20d and "
             "within the run's. For lago's strategies, the last column counts the "
             "evaluations up to the target by the kind of suggestion (median over the "
             "seeds that reached it).", "",
             "| problem | method | budget of the runs | cost to the target | "
             "within 20d | within the runs' budget | evaluations to the target by kind |",
             "|---|---|---|---|---|---|---|"]
    for p in problems:
        for m in methods:
            records = runs.get((p, m))
            if not records:
                continue
            budget = records[0]["budget"]
            costs = [first_cost(r["trace"], args.target) for r in records]
            values = np.array([c if c is not None else np.inf for c in costs])
            q = np.percentile(values, [50, 25, 75], method="lower")
            show = [f">{budget:g}" if np.isinf(v) else f"{v:g}" for v in q]
            comparison = 20.0 * dimension(p)
            within = int(np.sum(values <= comparison + 1e-9))
            reached = int(np.sum(np.isfinite(values)))
            result[p][m] = {"budget": budget, "comparison_budget": comparison,
                            "cost_to_target": [c for c in costs],
                            "median": None if np.isinf(q[0]) else float(q[0])}
            lines.append(f"| {p} | {m} | {budget:g} | {show[0]} [{show[1]}, {show[2]}] | "
                         f"{within}/{len(values)} | {reached}/{len(values)} | "
                         f"{kinds_cell(records, args.target)} |")
    with open(args.out + ".json", "w") as f:
        json.dump({"target": args.target, "runs": args.runs, "results": result}, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def dimension(problem):
    from problems import PROBLEMS
    return PROBLEMS[problem].dim


if __name__ == "__main__":
    main()
