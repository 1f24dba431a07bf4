#!/usr/bin/python3
"""Merges the JSON files of bench/gp/run.sh into RESULTS.md (on stdout) and one
results.json.

    /usr/bin/python3 bench/gp/summarize.py FOLDER bench/gp/results.json > bench/gp/RESULTS.md
    /usr/bin/python3 bench/gp/summarize.py bench/gp/results.json > bench/gp/RESULTS.md

FOLDER holds project_<d>_<N>.json, eigen_<d>_<N>.json, skylakex_<d>_<N>.json and
onethread_<d>_<N>.json (no skylakex files from a CPU without AVX-512, `FORCE=
bench/gp/run.sh`, whose one-thread runs keep OpenBLAS's own kernels).
Times are wall-clock milliseconds (OpenBLAS uses both cores), the median of 3
repetitions. Every ratio compares numbers taken back to back for one size.
"""

import glob
import json
import os
import sys
from collections import defaultdict

VARIANTS = ("project", "eigen", "skylakex", "onethread")


def load(folder):
    table = {v: defaultdict(dict) for v in VARIANTS}
    if os.path.isfile(folder):  # A results.json written earlier.
        with open(folder) as f:
            doc = json.load(f)
        for v in VARIANTS:
            for key, row in doc["median_ms"].get(v, {}).items():
                d, n = key.split("/")
                table[v][(int(d), int(n))] = row
        return doc["context"], doc.get("cores", {}), table
    context, cores = None, {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        variant = os.path.basename(path).split("_")[0]
        with open(path) as f:
            doc = json.load(f)
        context = context or doc["context"]
        if "openblas_core" in doc["context"]:
            cores[variant] = doc["context"]["openblas_core"]
        for b in doc["benchmarks"]:
            if b.get("error_occurred") or b.get("aggregate_name", "median") != "median":
                continue
            name, d, rows = b["run_name"].split("/")[:3]
            scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
            row = table[variant][(int(d), int(rows))]
            row[name] = b["real_time"] * scale
            row["N"] = int(b.get("N", 0))
    return context, cores, table


def fmt(v):
    if v is None:
        return "-"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def ratio(a, b):
    return a / b if a is not None and b else None


def value(spec, r, other):
    """One cell of a table row: "X" is benchmark BM_X of this row, "other:X" the
    same in the other table's row for the size, and a pair (a, b) is a / b."""
    if isinstance(spec, tuple):
        return ratio(value(spec[0], r, other), value(spec[1], r, other))
    row, name = (other, spec[len("other:"):]) if spec.startswith("other:") else (r, spec)
    return row.get("BM_" + name)


def markdown_table(headers, rows, specs, other=None):
    """A Markdown table: d, N and one column per (header, spec), one row per
    size of `rows`; `other` is the table "other:" specs read from."""
    out = ["| d | N | " + " | ".join(headers) + " |", "|---|---|" + "---|" * len(headers)]
    for key in sorted(rows):
        r, o = rows[key], (other or {}).get(key, {})
        out.append("| " + " | ".join([str(key[0]), str(r["N"])] +
                                     [fmt(value(spec, r, o)) for spec in specs]) + " |")
    return out


def main():
    context, cores, t = load(sys.argv[1])
    if os.path.isfile(sys.argv[1]) and len(sys.argv) > 2:
        sys.exit("summarize.py: a results.json is read, not written again")
    project, eigen, skx, one = t["project"], t["eigen"], t["skylakex"], t["onethread"]
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            json.dump({"context": context, "cores": cores,
                       "median_ms": {v: {f"{d}/{n}": r for (d, n), r in sorted(t[v].items())}
                                     for v in VARIANTS}}, f, indent=1)
    forced = bool(skx)
    out = ["# GP benchmark results", "",
           "Command (after `deploy/build.sh`): `bench/gp/run.sh`, which runs "
           "`build/bench/gp/bench_gp` (the project's build: Eigen on OpenBLAS and LAPACKE), "
           "`build/bench/gp/bench_gp_eigen` (plain Eigen) and `bench_gp` with "
           "`OPENBLAS_CORETYPE=SkylakeX` back to back for each size, 3 repetitions each, "
           "then this summary." if forced else
           "Command (after `deploy/build.sh`): `FORCE= bench/gp/run.sh` (a CPU without "
           "AVX-512), which runs `build/bench/gp/bench_gp` (the project's build: Eigen on "
           "OpenBLAS and LAPACKE), `build/bench/gp/bench_gp_eigen` (plain Eigen) and "
           "`bench_gp` with one OpenBLAS thread back to back for each size, 3 repetitions "
           "each, then this summary.", "",
           f"Machine: {context['cpu_model'] + ', ' if 'cpu_model' in context else ''}"
           f"{context.get('num_cpus')} CPUs at {context.get('mhz_per_cpu')} MHz "
           f"(shared), run {context.get('date', '')[:10]}. Wall-clock milliseconds, median of "
           "3. Each row has n = N / (d + 1) points with values and gradients, Matern-5/2, ARD. "
           "Ratios compare measurements taken back to back."
           + (" " + context["note"] if "note" in context else ""), "",
           "## The project's build (Eigen on OpenBLAS and LAPACKE, OpenBLAS's default kernels"
           + (f": {cores['project']})" if "project" in cores else ")"), ""]
    out += markdown_table(
        ["LLT", "dpotrf floor", "LLT / floor", "build + factorise", "incremental add",
         "refactorise / add", "add floor", "add / floor", "predict 1000", "dtrsm",
         "predict / dtrsm", "predict 1 + gradients", "likelihood + gradient",
         "refit (3 starts x 20)"],
        project,
        ["EigenLlt", "Dpotrf", ("EigenLlt", "Dpotrf"), "BuildAndFactorize", "IncrementalAdd",
         ("BuildAndFactorize", "IncrementalAdd"), "AddFloor", ("IncrementalAdd", "AddFloor"),
         "Predict1000", "DtrsmFloor",
         ("Predict1000", "DtrsmFloor"), "PredictWithGradients", "LogLikelihoodWithGradient",
         "Refit"])
    out += ["", "## Plain Eigen, measured right after the project's build", ""]
    out += markdown_table(
        ["LLT", "LLT / dpotrf floor", "plain / project: LLT", "build + factorise",
         "incremental add", "predict 1000", "plain / project: predict"],
        eigen,
        ["EigenLlt", ("EigenLlt", "other:Dpotrf"), ("EigenLlt", "other:EigenLlt"),
         "BuildAndFactorize", "IncrementalAdd", "Predict1000",
         ("Predict1000", "other:Predict1000")],
        other=project)
    own = cores.get("project")
    if own is None:  # A results.json from before the cores were recorded.
        why = ("OpenBLAS 0.3.21 does not recognise this virtual CPU (it reports a generic "
               "\"Intel Xeon Processor\" with AVX-512) and falls back to its Prescott kernels. "
               "These are the kernels lago-server selects on this machine (it sets "
               "`OPENBLAS_CORETYPE` for AVX-512 CPUs).")
    elif own in ("Prescott", "Core2", "Penryn", "Nehalem"):
        why = (f"OpenBLAS 0.3.21 does not recognise this CPU and falls back to its {own} "
               "kernels. These are the kernels lago-server selects on this machine (it sets "
               "`OPENBLAS_CORETYPE` for AVX-512 CPUs).")
    else:
        why = (f"OpenBLAS chooses its {own} kernels on this CPU by itself, and lago-server "
               "keeps them; SkylakeX is forced here to compare with machines where "
               "lago-server must force it.")
    if forced:
        out += ["", "## OpenBLAS with its AVX-512 kernels forced "
                "(`OPENBLAS_CORETYPE=SkylakeX`)", "", why, ""]
        out += markdown_table(
            ["LLT", "dpotrf", "LLT / dpotrf", "build + factorise", "incremental add",
             "refactorise / add", "add floor", "add / floor", "predict 1000", "dtrsm",
             "project / forced: predict", "predict 1 + gradients", "likelihood + gradient"],
            skx,
            ["EigenLlt", "Dpotrf", ("EigenLlt", "Dpotrf"), "BuildAndFactorize", "IncrementalAdd",
             ("BuildAndFactorize", "IncrementalAdd"), "AddFloor", ("IncrementalAdd", "AddFloor"),
             "Predict1000", "DtrsmFloor",
             ("other:Predict1000", "Predict1000"), "PredictWithGradients",
             "LogLikelihoodWithGradient"],
            other=project)

    one_name = ("AVX-512 kernels, one thread" if forced
                else f"{cores.get('onethread', 'default')} kernels, one thread")
    if one and forced:
        out += ["", "## AVX-512 kernels, one OpenBLAS thread (lago-server's default)", "",
                "`OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1`, as lago-server runs "
                "with its default `--blas-threads=1` on this machine; 2 threads / 1 "
                "thread compares with the table above.", ""]
    elif one:
        out += ["", "## One OpenBLAS thread (lago-server's default)", "",
                f"`OPENBLAS_NUM_THREADS=1` with OpenBLAS's own "
                f"{cores.get('onethread', '')} kernels, as lago-server runs with its default "
                "`--blas-threads=1` on a CPU without AVX-512; 2 threads / 1 thread compares "
                "with the project's build above.", ""]
    if one:
        out += markdown_table(
            ["dpotrf", "build + factorise", "incremental add", "refactorise / add",
             "add floor", "add / floor", "predict 1000", "predict 1 + gradients",
             "likelihood + gradient",
             "2 threads / 1 thread: build + factorise", "2 threads / 1 thread: predict 1000"],
            one,
            ["Dpotrf", "BuildAndFactorize", "IncrementalAdd",
             ("BuildAndFactorize", "IncrementalAdd"), "AddFloor",
             ("IncrementalAdd", "AddFloor"), "Predict1000", "PredictWithGradients",
             "LogLikelihoodWithGradient", ("other:BuildAndFactorize", "BuildAndFactorize"),
             ("other:Predict1000", "Predict1000")],
            other=skx if forced else project)
    two = skx if forced else project  # The same kernels with two threads.

    out += ["", "## Goals", ""]
    default = f"default kernels, {own}" if own else "default kernels"
    for name, table in ((default, project), ("AVX-512 kernels forced", skx)):
        llt = [v for v in (ratio(r.get("BM_EigenLlt"), r.get("BM_Dpotrf"))
                           for r in table.values()) if v]
        if not llt:
            continue
        within = sum(v <= 1.5 for v in llt)
        out.append(f"- Factorisation within 1.5x of dpotrf ({name}): LLT / floor from "
                   f"{min(llt):.2f} to {max(llt):.2f}; {within} of {len(llt)} sizes within 1.5x.")
    for name, table in ((default, project), ("AVX-512 kernels forced", skx),
                        (one_name, one)):
        for d in (2, 10, 20):
            r = table.get((d, 2000), {})
            v = ratio(r.get("BM_BuildAndFactorize"), r.get("BM_IncrementalAdd"))
            if v:
                note = ""
                if table is one:
                    x = two.get((d, 2000), {})
                    note = (f"; with one thread refactorising is "
                            f"{fmt(ratio(r.get('BM_BuildAndFactorize'), x.get('BM_BuildAndFactorize')))}x "
                            f"slower and the add {fmt(ratio(r.get('BM_IncrementalAdd'), x.get('BM_IncrementalAdd')))}x "
                            "slower than with two")
                floor = ratio(r.get("BM_BuildAndFactorize"), r.get("BM_AddFloor"))
                if floor:
                    note += (f"; its two triangular solves alone (the add floor, "
                             f"{fmt(r.get('BM_AddFloor'))} ms) would allow {floor:.1f}x")
                out.append(f"- Incremental add at N ~ 2000, d = {d} ({name}): {v:.1f}x faster "
                           f"than refactorising ({'met' if v >= 20 else 'not met'}; goal 20x)"
                           f"{note}.")
    for name, table in (("project build", project), ("AVX-512 kernels forced", skx),
                        (one_name, one)):
        r = table.get((10, 2200))
        if r and r.get("BM_Predict1000"):
            p, f = r["BM_Predict1000"], r.get("BM_DtrsmFloor")
            floor = (f"; OpenBLAS's dtrsm alone takes {fmt(f)} ms for the solve that "
                     "the exact variances need" if f else "")
            out.append(f"- Predicting 1000 candidates at N = 2200 ({name}): {p:.1f} ms "
                       f"({'met' if p < 50 else 'not met'}; goal 50 ms){floor}.")
    out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
