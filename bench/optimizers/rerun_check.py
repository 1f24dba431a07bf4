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
    parser.add_argument("--out", required=True, help="path without extension")
    args = parser.parse_args()
    committed, again = load(args.committed), load(args.again)
    groups = {}
    for key in sorted(again):
        if key not in committed:
            sys.exit(f"rerun_check: no committed run for {key}")
        groups.setdefault(key[:2], []).append(key)
    rows = []
    for (problem, method), keys in groups.items():
        before = [committed[k]["log10_regret"] for k in keys]
        after = [again[k]["log10_regret"] for k in keys]
        rows.append({
            "problem": problem, "method": method, "runs": len(keys),
            "traces_differ": sum(committed[k]["trace"] != again[k]["trace"]
                                 or committed[k].get("kinds") != again[k].get("kinds")
                                 for k in keys),
            "better": sum(a < b - 0.005 for a, b in zip(after, before)),
            "worse": sum(a > b + 0.005 for a, b in zip(after, before)),
            "before": spread(before), "after": spread(after)})
    command = shlex.join(["bench/optimizers/rerun_check.py"] + sys.argv[1:])
    with open(args.out + ".json", "w") as f:
        json.dump({"command": command, "rows": rows}, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(f"Command: `{command}`\n\nFinal log10 regret, median [quartiles], of the "
                "committed runs and of the same runs made again; better / worse count "
                "runs whose final log10 regret moved by more than 0.005.\n\n"
                "| problem | method | runs | traces or kinds differ | better | worse | "
                "committed | again |\n|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['problem']} | {r['method']} | {r['runs']} | {r['traces_differ']} "
                    f"| {r['better']} | {r['worse']} | {r['before']} | {r['after']} |\n")
    print(f"rerun_check: wrote {args.out}.md and {args.out}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
