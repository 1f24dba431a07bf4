#!/usr/bin/python3
"""What sharing a database file costs: the bench_service workload (W workers,
sobol strategy, suggest + observe rounds through the Python client) against

- `baseline`: one server built before studies had revisions and locks (pass it
  with --baseline-server; build it from the commit before),
- `one-server`: one server of this tree,
- `two-servers`: two servers of this tree on one database file, worker w
  talking to server w % 2 (not run with one worker, which would leave a
  server idle),
- with --postgres ADMIN_URI, `postgres-one-server` and `postgres-two-servers`:
  the same on a new database of that PostgreSQL server (created for each run
  with psql, and dropped after it),

- with --before-server PATH, each two-server configuration once more with that
  binary (`two-servers-before`, `postgres-two-servers-before`): a build of the
  commit before a change to how servers share a study; --before NAME... picks
  other configurations to run again with it,

in one run, with the configurations interleaved and repeated, so that a drift of
the shared machine falls on all of them. Reported: the median round trips per
second over the repeats and its ratio to the baseline, latencies of the median
repeat, and errors and lost observations summed over all repeats. On
PostgreSQL also the transactions per round (a suggest and an observe):
PostgreSQL's count for the run's database (pg_stat_database), which includes
the run's few calls to create and read the study. Each statement the server
sends outside a transaction block is one; several sent in one string are one.
So it counts the statements a round sends, the unlocks included, which
the server does not wait for.

    /usr/bin/python3 bench/service/bench_shared_database.py \\
        --baseline-server /tmp/base/build/server/lago-server --out bench/service

Without --baseline-server, ratios are to `one-server`.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_service import bench_lago, use_client_beside  # noqa: E402


def markdown(report):
    lines = [
        "# Service benchmark: several servers on one database",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Date {report['date']}; {report['machine']['cpus']} CPUs; "
        f"{report['rounds']} rounds per worker; {report['repeats']} repeats of each "
        "configuration, interleaved; sobol strategy, "
        f"{report['dimension']} parameters.",
        "",
        f"| workers | configuration | servers | round trips/s (median) | ratio to {report['reference']} "
        "| all repeats | suggest p50 / p99 ms | observe p50 / p99 ms | errors | lost "
        "| transactions per round |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        m = row["median_run"]
        lines.append(
            f"| {row['workers']} | {row['configuration']} | {row['servers']} | "
            f"{row['median_round_trips_per_second']:.1f} | {row['ratio_to_reference']:.2f} | "
            + ", ".join(f"{v:.0f}" for v in row["round_trips_per_second"]) + " | "
            f"{m['ask_p50_ms']:.2f} / {m['ask_p99_ms']:.2f} | "
            f"{m['tell_p50_ms']:.2f} / {m['tell_p99_ms']:.2f} | {row['errors']} | "
            f"{row['lost_observations']} | "
            + (f"{row['transactions_per_round']:.2f}" if "transactions_per_round" in row
               else "-") + " |")
    lines.append("")
    return "\n".join(lines)


def psql(uri, sql):
    """What `sql` printed on `uri`, unaligned and without headers."""
    return subprocess.run(["psql", uri, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                           "-c", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def new_postgres_database(admin_uri):
    """The URI of a new, empty database beside ADMIN_URI's."""
    name = "lago_bench_" + uuid.uuid4().hex[:12]
    psql(admin_uri, f"CREATE DATABASE {name}")
    return admin_uri.rsplit("/", 1)[0] + "/" + name


def postgres_transactions(admin_uri, uri):
    """Transactions committed or rolled back in the database of `uri`, read
    once its servers stopped: a backend reports its counts when it ends, so
    read until two readings agree."""
    name = uri.rsplit("/", 1)[1]
    sql = ("SELECT xact_commit + xact_rollback FROM pg_stat_database "
           f"WHERE datname = '{name}'")
    last = None
    for _ in range(50):
        time.sleep(0.2)
        out = psql(admin_uri, sql)
        if out == last:
            return int(out)
        last = out
    raise RuntimeError(f"the transaction count of {name} did not settle")


def drop_postgres_database(admin_uri, uri):
    psql(admin_uri, f"DROP DATABASE {uri.rsplit('/', 1)[1]} WITH (FORCE)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.path.join(ROOT, "build/server/lago-server"))
    parser.add_argument("--postgres", metavar="ADMIN_URI",
                        help="also run on PostgreSQL: a URI whose user may create databases")
    parser.add_argument("--baseline-server",
                        help="a lago-server built before revisions and study locks")
    parser.add_argument("--before-server",
                        help="a lago-server of an earlier commit, for the two-server rows")
    parser.add_argument("--before", nargs="+", metavar="NAME",
                        help="the configurations to run again with --before-server "
                             "(default: those with two servers)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=400, help="rounds per worker")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dimension", type=int, default=4)
    parser.add_argument("--out", help="folder for the results: NAME.json and NAME.md")
    parser.add_argument("--name", default="shared_database", help="their file name")
    parser.add_argument("--fail-on-errors", action="store_true",
                        help="exit 1 when a call failed or an observation is missing")
    args = parser.parse_args()

    use_client_beside(args.server)

    # (name, server binary, servers, on PostgreSQL)
    configurations = [("one-server", args.server, 1, False),
                      ("two-servers", args.server, 2, False)]
    if args.baseline_server:
        configurations.insert(0, ("baseline", args.baseline_server, 1, False))
    if args.postgres:
        configurations += [("postgres-one-server", args.server, 1, True),
                           ("postgres-two-servers", args.server, 2, True)]
    if args.before_server:
        known = [name for name, _, _, _ in configurations]
        unknown = set(args.before or []) - set(known)
        if unknown:
            parser.error(f"--before: no configuration {sorted(unknown)}; "
                         f"there are {known}")
        configurations += [(name + "-before", args.before_server, servers, postgres)
                           for name, _, servers, postgres in configurations
                           if (name in args.before if args.before else servers > 1)]
    reference = "baseline" if args.baseline_server else "one-server"
    runs = {}
    with tempfile.TemporaryDirectory(prefix="lago-bench-shared-") as tmp:
        for repeat in range(args.repeats):
            for w in args.workers:
                # Rotate the order, so that no configuration always runs first.
                for k in range(len(configurations)):
                    name, server, servers, postgres = configurations[
                        (k + repeat) % len(configurations)]
                    if servers > w:
                        continue  # Worker w talks to server w % servers: some would idle.
                    db = new_postgres_database(args.postgres) if postgres else None
                    try:
                        result = bench_lago(server, w, args.rounds, args.dimension, tmp,
                                            servers=servers, tag=f"{name}-{w}-{repeat}",
                                            db=db)
                        if db:
                            result["transactions_per_round"] = postgres_transactions(
                                args.postgres, db) / result["rounds"]
                    finally:
                        if db:
                            drop_postgres_database(args.postgres, db)
                    print(json.dumps(dict(configuration=name, repeat=repeat, **result)),
                          flush=True)
                    runs.setdefault((w, name), []).append(result)

    rows = []
    for w in args.workers:
        base = statistics.median(r["round_trips_per_second"] for r in runs[(w, reference)])
        for name, _, servers, _ in configurations:
            if (w, name) not in runs:
                continue
            results = runs[(w, name)]
            rates = [r["round_trips_per_second"] for r in results]
            median = statistics.median(rates)
            median_run = sorted(results, key=lambda r: r["round_trips_per_second"])[
                len(results) // 2]
            rows.append({
                "workers": w, "configuration": name, "servers": servers,
                "round_trips_per_second": rates,
                "median_round_trips_per_second": median,
                "ratio_to_reference": median / base,
                "median_run": median_run,
                "errors": sum(r["errors"] for r in results),
                "error_samples": sorted({e for r in results for e in r["error_samples"]})[:3],
                "lost_observations": sum(r["rounds"] - r["stored_observations"]
                                         for r in results),
            })
            if "transactions_per_round" in results[0]:
                rows[-1]["transactions_per_round"] = statistics.median(
                    r["transactions_per_round"] for r in results)
    report = {
        "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rounds": args.rounds, "repeats": args.repeats, "dimension": args.dimension,
        "reference": reference,
        "rows": rows,
    }
    text = markdown(report)
    print(text)
    bad = [r for r in rows if r["errors"] or r["lost_observations"]]
    if args.fail_on_errors and bad:
        print(f"bench_shared_database: errors or lost observations: {bad}", file=sys.stderr)
        sys.exit(1)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, args.name + ".json"), "w") as f:
            json.dump(report, f, indent=2)
        with open(os.path.join(args.out, args.name + ".md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
