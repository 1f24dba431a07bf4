#!/usr/bin/python3
"""Two builds of bench_gp, size by size and back to back, on the same benchmarks.

For a change to core/: build the commit before it, copy its bench_gp aside,
build the change, then

    bench/gp/compare.py --base /tmp/old/bench_gp --new build/bench/gp/bench_gp \\
        --filter 'LogLikelihoodWithGradient|Refit' --out bench/gp/likelihood

writes likelihood.md (medians in ms and base / new) and likelihood.json
(`compare.py --markdown likelihood.json` renders the table again). Each
size runs the base, then the new build, with 3 repetitions each, so that the
ratios compare measurements taken a few seconds apart on this shared machine.
--load N keeps N busy processes running beside both builds, as when the
function being optimised runs on the server's machine. --rounds R runs the
whole sweep R times and reports, for each benchmark, the median over the
rounds of the base and new times and of the ratio, with the ratio's range:
for a change of a few percent, which one round on a shared machine does
not resolve.
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

SIZES = ["2/500", "2/1000", "2/2000", "2/4000", "10/500", "10/1000", "10/2000",
         "10/2200", "10/4000", "20/500", "20/1000", "20/2000", "20/4000"]


def medians(binary, pattern, env):
    """{benchmark name without the size: median real time in ms} for one size."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [binary, "--benchmark_min_time=0.2", "--benchmark_repetitions=3",
             "--benchmark_report_aggregates_only=true",
             f"--benchmark_filter={pattern}", f"--benchmark_out={out.name}",
             "--benchmark_out_format=json"],
            check=True, env=env, stdout=subprocess.DEVNULL)
        report = json.load(open(out.name))
    found = {}
    for b in report["benchmarks"]:
        if b.get("aggregate_name") == "median":
            assert b["time_unit"] == "ms", b["time_unit"]
            found[b["run_name"].split("/")[0]] = b["real_time"]
    return found


def one_build_parser(doc):
    """Arguments of the scripts that time one bench_gp: --binary, --sizes, --out."""
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(here, "../../build/bench/gp/bench_gp"))
    parser.add_argument("--sizes", default=",".join(SIZES), help="d/N, comma-separated")
    parser.add_argument("--out", required=True, help="path without extension")
    return parser


def blas_env(coretype="", threads=0):
    """The environment for bench_gp with OPENBLAS_CORETYPE = coretype ('' for
    OpenBLAS's own choice, whatever the caller's environment says) and
    OPENBLAS_NUM_THREADS = threads (0: the caller's or OpenBLAS's choice)."""
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    if threads:
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def save_run(out, script, rows, **fields):
    """Writes OUT.json with the command, the date, `fields` and `rows`; returns it."""
    run = {"command": shlex.join([script] + sys.argv[1:]),
           "date": datetime.date.today().isoformat(), **fields, "rows": rows}
    with open(out + ".json", "w") as f:
        json.dump(run, f, indent=1)
    return run


def ms(x):
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.3g}"


def write_markdown(run, path):
    with open(path, "w") as f:
        f.write(f"Command: `{run['command']}`\n\n")
        if run.get("note"):  # Added by hand after the run, to say what the builds were.
            f.write(f"{run['note']}\n\n")
        load = run.get("load", 0)
        threads = run.get("threads", 0)
        rounds = run.get("rounds", 1)
        f.write(f"Run {run['date']}, OPENBLAS_CORETYPE={run['coretype'] or '(unset)'}"
                f"{f', OPENBLAS_NUM_THREADS={threads}' if threads else ''}"
                f"{f', with {load} busy process(es) beside' if load else ''}; "
                "medians of 3 repetitions in ms, base then new for each size")
        if rounds == 1:
            f.write(".\n\n| benchmark | d/N | base | new | base / new |\n"
                    "|---|---|---|---|---|\n")
        else:
            f.write(f", {rounds} rounds of every size; the medians over the rounds, and "
                    "the lowest and highest ratio of a round.\n\n"
                    "| benchmark | d/N | base | new | base / new | lowest | highest |\n"
                    "|---|---|---|---|---|---|---|\n")
        for r in run["rows"]:
            f.write(f"| {r['benchmark'][3:]} | {r['size']} | {ms(r['base_ms'])} | "
                    f"{ms(r['new_ms'])} | {r['base_over_new']:.2f} |")
            if rounds > 1:
                f.write(f" {min(r['ratios']):.2f} | {max(r['ratios']):.2f} |")
            f.write("\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--markdown":
        # Re-renders the table of a saved run: --markdown RUN.json.
        run = json.load(open(sys.argv[2]))
        write_markdown(run, sys.argv[2][:-len(".json")] + ".md")
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="bench_gp before the change")
    parser.add_argument("--new", required=True, help="bench_gp with the change")
    parser.add_argument("--filter", required=True,
                        help="benchmark names without BM_, as a regex alternation")
    parser.add_argument("--sizes", default=",".join(SIZES), help="d/N, comma-separated")
    parser.add_argument("--coretype", default="SkylakeX",
                        help="OPENBLAS_CORETYPE for both builds ('' for OpenBLAS's choice)")
    parser.add_argument("--threads", type=int, default=0,
                        help="OPENBLAS_NUM_THREADS for both builds (0: OpenBLAS's choice)")
    parser.add_argument("--load", type=int, default=0,
                        help="busy processes to run beside the benchmark (as when an "
                             "evaluation shares the machine with the server)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times to run the whole sweep (medians over the rounds)")
    parser.add_argument("--out", required=True, help="path without extension")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.load)]
    try:
        measure(args)
    finally:
        for h in hogs:
            h.kill()


def measure(args):
    env = blas_env(args.coretype, args.threads)
    sizes = args.sizes.split(",")
    times = {}  # (size, name) -> [(base, new)], one per round
    for round_ in range(args.rounds):
        for size in sizes:
            pattern = f"BM_({args.filter})/{size}($|/)"
            print(f"bench/gp/compare: round {round_ + 1} of {args.rounds}, d/N = {size}",
                  file=sys.stderr)
            base = medians(args.base, pattern, env)
            new = medians(args.new, pattern, env)
            for name in sorted(set(base) & set(new)):
                times.setdefault((size, name), []).append((base[name], new[name]))
    rows = []
    for (size, name), pairs in sorted(times.items(), key=lambda i: sizes.index(i[0][0])):
        ratios = [b / n for b, n in pairs]
        row = {"benchmark": name, "size": size,
               "base_ms": statistics.median(b for b, _ in pairs),
               "new_ms": statistics.median(n for _, n in pairs),
               "base_over_new": statistics.median(ratios)}
        if args.rounds > 1:
            row["ratios"] = ratios
        rows.append(row)
    result = {"command": shlex.join(["bench/gp/compare.py"] + sys.argv[1:]),
              "date": datetime.date.today().isoformat(), "coretype": args.coretype,
              "threads": args.threads, "load": args.load, "rounds": args.rounds,
              "rows": rows}
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1)
    write_markdown(result, args.out + ".md")
    print(f"bench/gp/compare: wrote {args.out}.md and {args.out}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
