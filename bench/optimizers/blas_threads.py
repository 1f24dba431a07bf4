#!/usr/bin/python3
"""OpenBLAS threads per call, with and without another busy process.

lago-server's --blas-threads (default 1) sets how many threads OpenBLAS uses
for each call. This runs suggest_time (lago's Suggest in gradient-enhanced
mode, 100 observations, d = 6 and 10) with OPENBLAS_NUM_THREADS = 2 (all
cores of this machine, OpenBLAS's default) and 1, first on an otherwise idle
machine, then beside busy processes (as when the evaluations run on the
server's machine), each pair back to back.

    /usr/bin/python3 bench/optimizers/blas_threads.py --out bench/optimizers/blas_threads

writes blas_threads.md and blas_threads.json.
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def suggest_time(binary, threads, dims, evaluations):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    env.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
    start = time.monotonic()
    out = subprocess.run([binary, "--dims", dims, "--evaluations", str(evaluations)],
                         env=env, check=True, capture_output=True, text=True).stdout
    seconds = time.monotonic() - start
    blocks = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            blocks.append({"d": int(cells[0]), "observations": cells[1],
                           "median_ms": float(cells[2]), "max_ms": float(cells[3]),
                           "refits": int(cells[4])})
    return {"threads": threads, "seconds": seconds, "blocks": blocks}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build/bench/optimizers/suggest_time"))
    parser.add_argument("--dims", default="6,10")
    parser.add_argument("--evaluations", type=int, default=100)
    parser.add_argument("--loads", default="0,1", help="busy processes, comma-separated")
    parser.add_argument("--out", required=True, help="path without extension")
    args = parser.parse_args()
    runs = []
    for load in [int(x) for x in args.loads.split(",")]:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(load)]
        try:
            for threads in (2, 1):
                print(f"blas_threads: {load} busy, {threads} thread(s)", file=sys.stderr)
                run = suggest_time(args.binary, threads, args.dims, args.evaluations)
                run["load"] = load
                runs.append(run)
        finally:
            for h in hogs:
                h.kill()
    command = shlex.join(["bench/optimizers/blas_threads.py"] + sys.argv[1:])
    with open(args.out + ".json", "w") as f:
        json.dump({"command": command, "date": datetime.date.today().isoformat(),
                   "cpus": os.cpu_count(), "runs": runs}, f, indent=1)
    last = f"{args.evaluations - 19}-{args.evaluations}"
    dims = [int(d) for d in args.dims.split(",")]
    lines = [f"Command: `{command}`", "",
             f"Run {datetime.date.today().isoformat()} on {os.cpu_count()} CPUs, "
             "OPENBLAS_CORETYPE=SkylakeX. suggest_time runs lago's Suggest (gradient-enhanced) "
             f"for {args.evaluations} observations in each d; the two thread counts ran back "
             "to back under each load. The last columns are the median and the largest "
             f"suggestion (a refit) among observations {last}.", "",
             "| busy processes | OpenBLAS threads | whole run s | 2 threads / 1 thread |"
             + "".join(f" d = {d}: median ms | d = {d}: max ms |" for d in dims),
             "|---|---|---|---|" + "---|---|" * len(dims)]
    for run in runs:
        pair = [r for r in runs if r["load"] == run["load"]]
        ratio = pair[0]["seconds"] / pair[1]["seconds"] if run["threads"] == 1 else None
        cells = [str(run["load"]), str(run["threads"]), f"{run['seconds']:.1f}",
                 f"{ratio:.2f}" if ratio else ""]
        for d in dims:
            block = next(b for b in run["blocks"] if b["d"] == d and b["observations"] == last)
            cells += [f"{block['median_ms']:.1f}", f"{block['max_ms']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"blas_threads: wrote {args.out}.md and {args.out}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
