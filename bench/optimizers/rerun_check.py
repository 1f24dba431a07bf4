#!/usr/bin/python3
"""Runs made again against the committed ones in runs.jsonl.

After a change that moves results only by rounding, some rows are run again
into a separate file; this pairs each run with the committed run of the same
problem, method and seed and writes, for each problem and method, how many
traces (or suggestion kinds) differ, how many final log10 regrets moved by
more than 0.005 either way, and the medians and quartiles before and after.

    /usr/bin/python3 bench/optimizers/bench_optimizers.py --seeds 20 \\
        --problems branin hartmann6 --methods lago-enhanced \\
        --out /tmp/again.jsonl --fresh
    /usr/bin/python3 bench/optimizers/rerun_check.py /tmp/again.jsonl \\
        --out bench/optimizers/rerun_check

A change that is meant to move results is checked the same way, against runs
made before it with --committed (local_repeat: local steps onto points known
exactly, made with the servers before and after 37b45ec):

    /usr/bin/python3 bench/optimizers/bench_optimizers.py --seeds 20 \\
        --server <lago-server before> --methods lago-enhanced lago-on-request \\
        lago-value-only trust-region-value-only \\
        --variant trust-region-value-only=trust-region:none \\
        --out bench/optimizers/local_repeat_before.jsonl
    # the same with the server after, --out bench/optimizers/local_repeat.jsonl
    /usr/bin/python3 bench/optimizers/rerun_check.py bench/optimizers/local_repeat.jsonl \\
        --committed bench/optimizers/local_repeat_before.jsonl \\
        --out bench/optimizers/local_repeat

and value_only_model (value-only local points in the model, 51fda97): the
value-only rows run again with the server after it,

    /usr/bin/python3 bench/optimizers/bench_optimizers.py --seeds 20 \\
        --methods lago-value-only trust-region-value-only \\
        --variant trust-region-value-only=trust-region:none \\
        --out bench/optimizers/value_only_model.jsonl
    /usr/bin/python3 bench/optimizers/rerun_check.py \\
        bench/optimizers/value_only_model.jsonl \\
        --committed bench/optimizers/local_repeat.jsonl \\
        --out bench/optimizers/value_only_model

and value_only_calibrate (calibrated EI on in value-only mode): the
value-only lago row made again with the server after the change, and two
variants with EI credit on top, each paired with those runs (--as):

    /usr/bin/python3 bench/optimizers/bench_optimizers.py --seeds 20 \\
        --methods lago-value-only --out bench/optimizers/value_only_calibrate.jsonl
    /usr/bin/python3 bench/optimizers/rerun_check.py \\
        bench/optimizers/value_only_calibrate.jsonl \\
        --committed bench/optimizers/value_only_model.jsonl \\
        --out bench/optimizers/value_only_calibrate
    /usr/bin/python3 bench/optimizers/bench_optimizers.py --seeds 20 \\
        --methods lago-value-only-cr1 lago-value-only-c0cr1 \\
        --variant lago-value-only-cr1=lago:none:ei_credit=1 \\
        --variant lago-value-only-c0cr1=lago:none:calibrate=0,ei_credit=1 \\
        --out bench/optimizers/value_only_credit.jsonl
    /usr/bin/python3 bench/optimizers/rerun_check.py \\
        bench/optimizers/value_only_credit.jsonl \\
        --committed bench/optimizers/value_only_calibrate.jsonl \\
        --as lago-value-only --out bench/optimizers/value_only_credit

When the runs made again replace the committed rows, the committed ones are
renamed with a suffix (lago-enhanced -> lago-enhanced-ps0) and the new ones
join runs.jsonl under the plain names; --suffix then pairs each run of a
method whose renamed runs exist with them, within runs.jsonl itself:

    /usr/bin/python3 bench/optimizers/rerun_check.py bench/optimizers/runs.jsonl \\
        --suffix=-ps0 --out bench/optimizers/panel_solve_check

(made when the plain rows were the runs of f2e589e, now -f2e). The main
table's server rows of 7039e02 were checked before they replaced those:

    /usr/bin/python3 bench/optimizers/bench_optimizers.py --seeds 20 \\
        --methods lago-enhanced lago-on-request lago-value-only bo trust-region \\
        --out /tmp/again.jsonl
    /usr/bin/python3 bench/optimizers/rerun_check.py /tmp/again.jsonl \\
        --out bench/optimizers/main_rerun
    # then the committed runs of these methods renamed to <method>-f2e in
    # runs.jsonl, and /tmp/again.jsonl appended to it
"""

import argparse
import json
import os
import shlex
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path):
    with open(path) as f:
        return {(r["problem"], r["method"], r["seed"]): r for r in map(json.loads, f)}


def spread(values):
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return f"{statistics.median(values):.2f} [{q[0]:.2f}, {q[2]:.2f}]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("again", help="runs made again (JSON lines)")
    parser.add_argument("--committed", default=os.path.join(HERE, "runs.jsonl"))
    parser.add_argument("--suffix", default="",
                        help="pair a run of method m with the committed run of m + SUFFIX, "
                             "for the methods that have such runs")
    parser.add_argument("--as", dest="as_method", metavar="METHOD",
                        help="pair every run with the committed run of METHOD "
                             "(variants against the method they vary)")
    parser.add_argument("--out", required=True, help="path without extension")
    args = parser.parse_args()
    if args.as_method and args.suffix:
        parser.error("--as and --suffix are exclusive")
    committed, again = load(args.committed), load(args.again)
    methods = {k[1] for k in committed}
    groups = {}
    for key in sorted(again):
        if args.suffix and key[1] + args.suffix not in methods:
            continue
        old = (key[0], args.as_method or key[1] + args.suffix, key[2])
        if old not in committed:
            sys.exit(f"rerun_check: no committed run for {old}")
        groups.setdefault(key[:2], []).append((old, key))
    if not groups:
        sys.exit("rerun_check: no runs to pair")
    rows = []
    for (problem, method), pairs in groups.items():
        before = [committed[old]["log10_regret"] for old, _ in pairs]
        after = [again[new]["log10_regret"] for _, new in pairs]
        rows.append({
            "problem": problem, "method": method, "runs": len(pairs),
            "traces_differ": sum(committed[old]["trace"] != again[new]["trace"]
                                 or committed[old].get("kinds") != again[new].get("kinds")
                                 for old, new in pairs),
            "better": sum(a < b - 0.005 for a, b in zip(after, before)),
            "worse": sum(a > b + 0.005 for a, b in zip(after, before)),
            "before": spread(before), "after": spread(after),
            # Suggestions at a point evaluated before (bench_optimizers.py),
            # where both runs count them.
            "repeats": [sum(committed[old].get("repeats", 0) for old, _ in pairs),
                        sum(again[new].get("repeats", 0) for _, new in pairs)]
            if all("repeats" in committed[old] and "repeats" in again[new]
                   for old, new in pairs) else None})
    command = shlex.join(["bench/optimizers/rerun_check.py"] + sys.argv[1:])
    with open(args.out + ".json", "w") as f:
        json.dump({"command": command, "rows": rows}, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(f"Command: `{command}`\n\nFinal log10 regret, median [quartiles], of the "
                "committed runs (or those made before a change) and of the same runs made "
                "again; better / worse count runs whose final log10 regret moved by more "
                "than 0.005; repeats count suggestions at a point evaluated before (but "
                "gradients at the incumbent), where the runs recorded them.\n\n")
        if args.as_method:
            f.write(f"Every run is paired with the committed run of {args.as_method} on "
                    "the same problem and seed.\n\n")
        f.write("| problem | method | runs | traces or kinds differ | better | worse | "
                "committed | again | repeats |\n|---|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            repeats = "-" if r["repeats"] is None else " → ".join(map(str, r["repeats"]))
            f.write(f"| {r['problem']} | {r['method']} | {r['runs']} | {r['traces_differ']} "
                    f"| {r['better']} | {r['worse']} | {r['before']} | {r['after']} "
                    f"| {repeats} |\n")
    print(f"rerun_check: wrote {args.out}.md and {args.out}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
