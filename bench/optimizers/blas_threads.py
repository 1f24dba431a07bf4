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

Then the same question through the real server and the Python client: 1 and
then 2 lago studies (gradient-enhanced, a shifted sphere in d = 10, 100
trials each) driven at the same time, once with lago-server
--blas-threads=1 and once with --blas-threads=0 (OpenBLAS's default).
"""

import argparse
import concurrent.futures
import datetime
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_optimizers import start_server  # noqa: E402
import report  # noqa: E402


def coretype():
    """The OPENBLAS_CORETYPE the timings run with: the environment's, else
    SkylakeX (OpenBLAS's AVX-512 kernels) on a CPU with AVX-512, else ''
    (OpenBLAS's own choice; forcing SkylakeX elsewhere ends in SIGILL)."""
    if "OPENBLAS_CORETYPE" in os.environ:
        return os.environ["OPENBLAS_CORETYPE"]
    try:
        with open("/proc/cpuinfo") as f:
            return "SkylakeX" if " avx512f" in f.read() else ""
    except OSError:
        return ""


def coretype_label():
    return f"OPENBLAS_CORETYPE={coretype() or '(unset)'}"


def suggest_time_rows(binary, threads, arguments):
    """Runs suggest_time with `arguments` on `threads` OpenBLAS threads and the
    kernels of coretype(): the cells of each row of its table, and the
    seconds it took."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    if coretype():
        env["OPENBLAS_CORETYPE"] = coretype()
    start = time.monotonic()
    out = subprocess.run([binary] + arguments, env=env, check=True, capture_output=True,
                         text=True).stdout
    seconds = time.monotonic() - start
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()]
    return [cells for cells in rows if cells[0].isdigit()], seconds


def suggest_time(binary, threads, dims, evaluations):
    rows, seconds = suggest_time_rows(binary, threads,
                                      ["--dims", dims, "--evaluations", str(evaluations)])
    blocks = [{"d": int(c[0]), "observations": c[1], "median_ms": float(c[2]),
               "max_ms": float(c[3]), "refits": int(c[4])} for c in rows]
    return {"threads": threads, "seconds": seconds, "blocks": blocks}


def drive(address, index, trials, dim):
    """One lago study on a shifted sphere: the latency of each suggest."""
    import lago
    client = lago.Client(address, timeout=600)
    study = client.create_study(f"sphere-{index}", [(f"x{j}", -1.0, 1.0) for j in range(dim)],
                                strategy="lago", gradient_mode="enhanced", seed=index)
    latencies = []
    for _ in range(trials):
        start = time.monotonic()
        trial = study.suggest()
        latencies.append(time.monotonic() - start)
        x = [v - 0.3 for v in trial.x]
        study.observe(trial, sum(v * v for v in x), [2.0 * v for v in x])
    client.close()
    return latencies


def server_run(server, blas_threads, studies, trials, dim):
    with tempfile.TemporaryDirectory(prefix="lago-blas-") as tmp:
        proc, address = start_server(server, tmp, [f"--blas-threads={blas_threads}"])
        try:
            start = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(studies) as pool:
                per_study = list(pool.map(lambda i: drive(address, i, trials, dim),
                                          range(studies)))
            seconds = time.monotonic() - start
        finally:
            proc.terminate()
            proc.wait()
    latencies = sorted(t for study in per_study for t in study)
    return {"blas_threads": blas_threads, "studies": studies, "trials": trials, "d": dim,
            "seconds": seconds, "suggest_median_ms": 1e3 * statistics.median(latencies),
            "suggest_p90_ms": 1e3 * latencies[int(0.9 * (len(latencies) - 1))]}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build/bench/optimizers/suggest_time"))
    parser.add_argument("--dims", default="6,10")
    parser.add_argument("--evaluations", type=int, default=100)
    parser.add_argument("--loads", default="0,1", help="busy processes, comma-separated")
    parser.add_argument("--server", default=os.path.join(ROOT, "build/server/lago-server"))
    parser.add_argument("--trials", type=int, default=100,
                        help="trials per study in the server part (0 skips it)")
    parser.add_argument("--out", required=True, help="path without extension")
    args = parser.parse_args()
    build = os.path.dirname(os.path.dirname(os.path.abspath(args.server)))
    sys.path.insert(0, os.path.join(build, "python"))
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
    served = []
    for studies in (1, 2) if args.trials > 0 else ():
        for blas_threads in (1, 0):
            print(f"blas_threads: server, {studies} studies, --blas-threads={blas_threads}",
                  file=sys.stderr)
            served.append(server_run(args.server, blas_threads, studies, args.trials, 10))
    command = shlex.join(["bench/optimizers/blas_threads.py"] + sys.argv[1:])
    last = f"{args.evaluations - 19}-{args.evaluations}"
    dims = [int(d) for d in args.dims.split(",")]
    lines = [f"Command: `{command}`", "",
             f"Run {datetime.date.today().isoformat()} on {os.cpu_count()} CPUs, "
             f"{coretype_label()}. suggest_time runs lago's Suggest (gradient-enhanced) "
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
    if served:
        lines += ["", "Through lago-server and the Python client: lago studies driven at the "
                  f"same time, each {args.trials} trials of a shifted sphere in d = 10 with "
                  "gradients; the whole run's wall time and the latency of every suggest.", "",
                  "| studies at once | --blas-threads | wall s | suggest median ms "
                  "| suggest p90 ms |", "|---|---|---|---|---|"]
        for r in served:
            lines.append(f"| {r['studies']} | {r['blas_threads']} | {r['seconds']:.1f} | "
                         f"{r['suggest_median_ms']:.1f} | {r['suggest_p90_ms']:.1f} |")
    report.write(args.out, "blas_threads",
                 {"command": command, "date": datetime.date.today().isoformat(),
                  "cpus": os.cpu_count(), "runs": runs, "server_runs": served}, lines)


if __name__ == "__main__":
    main()
