"""The ``lago`` command line: studies and trials of a lago-server from a terminal."""

import argparse
import csv
import datetime
import io
import json
import os
import sys
import time

from google.protobuf import json_format

from lago.client import (DEFAULT_ADDRESS, Client, LagoError, _valid_words, labelled,
                         noisy_values, unlabelled)
from lago.v1 import study_pb2


def _parse_param(text):
    name, _, rest = text.partition(":")
    kind, _, labels = rest.partition(":")
    if kind == "choice":
        choices = labels.split(",")
        if not name or len(choices) < 2 or not all(choices):
            raise argparse.ArgumentTypeError(
                f"--param {text!r}: expected NAME:choice:LABEL1,LABEL2,... (2 or more "
                "labels, none empty)")
        return (name, choices)
    parts = text.split(":")
    words = parts[3:]
    if len(parts) < 3 or not _valid_words(words):
        raise argparse.ArgumentTypeError(
            f"--param {text!r}: expected NAME:LOWER:UPPER, then :log (a log scale) "
            "or :int (an integer) or both; or NAME:choice:LABEL1,LABEL2,...")
    try:
        return (parts[0], float(parts[1]), float(parts[2])) + tuple(parts[3:])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--param {text!r}: LOWER and UPPER must be numbers") from None


def _parse_point(text):
    """Comma-separated entries: numbers, or a categorical parameter's label."""
    out = []
    for v in text.split(","):
        try:
            out.append(float(v))
        except ValueError:
            out.append(v)
    return out


def _parse_floats(text):
    try:
        return [float(v) for v in text.split(",")] if text else []
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers") from None


def _time(seconds):
    if not seconds:
        return ""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _fmt(v, digits=10):
    return "" if v is None else v if isinstance(v, str) else f"{v:.{digits}g}"


def _point_text(params, digits=10):
    """name=value ..., a categorical parameter by its label."""
    return " ".join(f"{n}={_fmt(v, digits)}" for n, v in params.items())


def _print_study(s):
    st = s.stats
    state = study_pb2.StudyState.Name(s.state)[len("STUDY_STATE_"):].lower()
    budget = f"{s.spec.budget:g}" if s.spec.budget else "unlimited"
    print(f"{s.name}: {state}, strategy {s.spec.strategy}, {len(s.spec.parameters)} parameters, "
          f"budget {st.cost_spent:g}/{budget}, trials {st.trials} (completed {st.completed}, "
          f"pending {st.pending}, stale {st.stale}, failed {st.failed}, "
          f"abandoned {st.abandoned})")


def _trial_rows(study, trials):
    names = [p.name for p in study.spec.parameters]
    header = (["trial", "state", "kind", "need_gradient", "client_id", "value", "noise_std"]
              + names
              + [f"grad_{n}" for n in names]
              + ["failure_reason", "winner", "ei", "ei_weight", "improvement", "radius",
                 "create_time", "complete_time"])
    rows = []
    for t in trials:
        grad = t.gradient or [None] * len(names)
        rows.append([t.id, t.state, t.kind, int(t.need_gradient), t.client_id, _fmt(t.value),
                     _fmt(t.noise_std)]
                    + [_fmt(v) for v in labelled(study.spec.parameters, t.x).values()]
                    + [_fmt(g) for g in grad]
                    + [t.failure_reason, t.why.get("winner", ""),
                       _fmt(t.why.get("acquisition_value")),
                       _fmt(t.why.get("acquisition_weight")),
                       _fmt(t.why.get("predicted_improvement")), _fmt(t.why.get("radius")),
                       _time(t.create_time), _time(t.complete_time)])
    return header, rows


def _key_values(items, flag):
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"lago: {flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _cmd_create(client, a):
    study = client.create_study(
        a.name, a.param, direction=a.direction, strategy=a.strategy,
        strategy_options=_key_values(a.option, "--option"),
        gradient_mode=a.gradient_mode, gradient_cost=a.gradient_cost, budget=a.budget,
        seed=a.seed, metadata=_key_values(a.metadata, "--metadata"))
    _print_study(study.info())


def _cmd_suggest(client, a):
    study = client.study(a.study)
    trials = study.suggest(count=a.count, client_id=a.client_id)
    for t in trials:
        if a.json:
            print(json.dumps({"trial": t.id, "x": t.params, "kind": t.kind,
                              "need_gradient": t.need_gradient}))
        else:
            grad = " (gradient wanted)" if t.need_gradient else ""
            print(f"trial {t.id} [{t.kind}]{grad}: {_point_text(t.params)}")


def _cmd_observe(client, a):
    study = client.study(a.study)
    if a.failed is not None:
        t = study.fail(a.trial, a.failed)
    else:
        if a.value is None:
            raise SystemExit("lago: observe needs VALUE, or --failed REASON")
        t = study.observe(a.trial, a.value, gradient=a.gradient or None,
                          noise_std=a.noise_std)
    print(f"trial {t.id}: {t.state}" + (f", value {t.value:.10g}" if t.value is not None else ""))


def _cmd_status(client, a):
    studies = [client.get_study(a.study)] if a.study else client.list_studies()
    if not studies:
        print("no studies")
    for s in studies:
        _print_study(s)


def _cmd_trials(client, a):
    study = client.study(a.study)
    info = study.info()
    header, rows = _trial_rows(info, study.trials(states=a.state))
    keep = [i for i, h in enumerate(header) if not h.startswith("grad_")
            and h not in ("noise_std", "failure_reason", "create_time", "complete_time")]
    table = [[header[i] for i in keep]] + [[str(r[i]) for i in keep] for r in rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(keep))]
    for row in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))


def _cmd_best(client, a):
    study = client.study(a.study)
    model = study.model_best() if a.model else None
    best = model.best if model else study.best()
    if best is None:
        print("no completed trial yet")
        return
    print(f"best: trial {best.id}, value {best.value:.10g}, {_point_text(best.params)}")
    if model is None:
        return
    print(f"model of {model.model_points} results at the best trial: "
          f"mean {model.at_best.mean:.10g} std {model.at_best.std:.6g}")
    print(f"model optimum: mean {model.at_optimum.mean:.10g} std {model.at_optimum.std:.6g}"
          f", {_point_text(model.optimum_params)}")
    r = model.recommended
    print(f"best model mean at a trial: trial {r.id}, value {r.value:.10g}, mean "
          f"{model.at_recommended.mean:.10g} std {model.at_recommended.std:.6g}, "
          f"{_point_text(r.params)}")


def _cmd_predict(client, a):
    study = client.study(a.study)
    names = [p.name for p in study.parameters]
    try:
        points = [labelled(study.parameters, unlabelled(study.parameters, x, f"--at {i + 1}"))
                  for i, x in enumerate(a.at)]
    except ValueError as e:
        raise SystemExit(f"lago: {e}") from None
    pred = study.predict([list(p.values()) for p in points])
    if a.json:
        for i, x in enumerate(points):
            print(json.dumps({"x": x, "mean": pred.mean[i], "std": pred.std[i],
                              "mean_gradient": pred.mean_gradient[i],
                              "std_gradient": pred.std_gradient[i]}))
        return
    scales = " ".join(f"{n}={v:.4g}" for n, v in zip(names, pred.lengthscales))
    print(f"model of {pred.model_points} results, lengthscales {scales}")
    for i, x in enumerate(points):
        point = _point_text(x)
        grad = ",".join(f"{g:.6g}" for g in pred.mean_gradient[i])
        print(f"{point}: mean {pred.mean[i]:.10g} std {pred.std[i]:.6g} gradient {grad}")


def _cmd_export(client, a):
    study = client.study(a.study)
    info = study.info()
    trials = study.trials()
    out = io.StringIO()
    if a.format == "csv":
        header, rows = _trial_rows(info, trials)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    else:
        doc = json_format.MessageToDict(info, preserving_proto_field_name=True)
        doc["trials"] = [t.__dict__ for t in trials]
        json.dump(doc, out, indent=2)
        out.write("\n")
    if a.out:
        with open(a.out, "w") as f:
            f.write(out.getvalue())
        print(f"wrote {len(trials)} trials to {a.out}", file=sys.stderr)
    else:
        sys.stdout.write(out.getvalue())


def _recommended_text(study, completed, cache):
    """For a study with noisy values: the completed trial where the model's
    mean is best. Asked of the server again only when a result has come in
    since the last time (`cache` keeps the answer)."""
    if cache.get("completed") != completed:
        try:
            m = study.model_best()
            r = m.recommended
            text = (f"recommended (noisy values): trial {r.id}, model mean "
                    f"{m.at_recommended.mean:.10g} std {m.at_recommended.std:.4g}, "
                    f"value {r.value:.10g}, at {_point_text(r.params, 6)}")
        except LagoError as e:
            text = f"recommended (noisy values): no model: {e.details}"
        cache.update(completed=completed, text=text)
    return cache["text"]


def _watch_frame(study, info, trials, history, now, cache=None):
    """The text of one `lago watch` screen. `cache` keeps the recommended
    trial of a study with noisy values between frames."""
    st = info.stats
    done = [t for t in trials if t.state == "completed"]
    sign = -1.0 if info.spec.direction == study_pb2.DIRECTION_MAXIMIZE else 1.0
    best = min(done, key=lambda t: sign * t.value) if done else None
    history.append((now, len(done)))
    while len(history) > 2 and now - history[0][0] > 60.0:
        history.pop(0)
    span = now - history[0][0]
    rate = (len(done) - history[0][1]) / span * 60.0 if span > 0 else 0.0
    budget = f"{info.spec.budget:g}" if info.spec.budget else "unlimited"
    state = study_pb2.StudyState.Name(info.state)[len("STUDY_STATE_"):].lower()
    lines = [f"{info.name}  [{state}, strategy {info.spec.strategy}]  "
             f"{datetime.datetime.now().strftime('%H:%M:%S')}",
             f"trials {st.trials}: completed {st.completed}, pending {st.pending}, "
             f"stale {st.stale}, failed {st.failed}, abandoned {st.abandoned}",
             f"cost {st.cost_spent:g} of {budget}; {rate:.1f} results per minute "
             f"(last {span:.0f} s)"]
    if best is not None:
        point = _point_text(labelled(info.spec.parameters, best.x), 6)
        lines.append(f"best: {best.value:.10g} (trial {best.id}) at {point}")
        if noisy_values(info.spec, done):
            lines.append(_recommended_text(study, len(done), {} if cache is None else cache))
    recent = sorted(trials, key=lambda t: t.id)[-8:]
    if recent:
        lines.append("last trials: " + "  ".join(
            f"{t.id}:{t.kind}/{t.state}" + (f"={t.value:.4g}" if t.value is not None else "")
            for t in recent))
    return "\n".join(lines)


def _cmd_watch(client, a):
    study = client.study(a.study)
    history = []
    cache = {}
    frames = 0
    try:
        while True:
            info = study.info()
            text = _watch_frame(study, info, study.trials(), history, time.monotonic(),
                                cache)
            if sys.stdout.isatty():
                sys.stdout.write("\x1b[2J\x1b[H")
            print(text + "\n", flush=True)
            frames += 1
            if a.count and frames >= a.count:
                return
            if info.state != study_pb2.STUDY_STATE_ACTIVE and not a.follow_stopped:
                print(f"{a.study} is no longer active")
                return
            time.sleep(a.interval)
    except KeyboardInterrupt:
        pass


def _cmd_plot(client, a):
    from lago.plot import plot_study
    study = client.study(a.study)
    info = study.info()
    trials = study.trials()
    plot_study(info, trials, a.out)
    print(f"wrote {a.out} ({len(trials)} trials)", file=sys.stderr)


def _cmd_web(client, a):
    from lago.web import make_server
    # A page says at once that the server is down; the next reload tries again.
    client.retries = 1
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if a.verbose else None
    try:
        server = make_server(client, a.listen, refresh=a.refresh, log=log)
    except (ValueError, OSError) as e:
        raise SystemExit(f"lago web: {e}") from None
    host, port = server.server_address[:2]
    print(f"lago web: serving http://{host}:{port}/ (read-only; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _cmd_stop(client, a):
    _print_study(client.stop_study(a.study))


def _cmd_delete(client, a):
    client.delete_study(a.study)
    print(f"deleted {a.study}")


def build_parser():
    p = argparse.ArgumentParser(prog="lago", description="Talk to a lago-server.")
    p.add_argument("--address", default=os.environ.get("LAGO_ADDRESS", DEFAULT_ADDRESS),
                   help="server address (env LAGO_ADDRESS; default %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    p.add_argument("--token-file", default=os.environ.get("LAGO_TOKEN_FILE"),
                   help="file holding the bearer token (env LAGO_TOKEN_FILE; the token "
                        "itself may be in LAGO_TOKEN)")
    p.add_argument("--tls-ca", default=os.environ.get("LAGO_TLS_CA"),
                   help="PEM of the CA that signed the server's certificate; turns TLS on "
                        "(env LAGO_TLS_CA)")
    p.add_argument("--tls-cert", default=os.environ.get("LAGO_TLS_CERT"),
                   help="client certificate (PEM) when the server asks for one")
    p.add_argument("--tls-key", default=os.environ.get("LAGO_TLS_KEY"),
                   help="client key (PEM)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("create", help="create a study (or open an equal one)")
    c.add_argument("name")
    c.add_argument("--param", type=_parse_param, action="append", required=True,
                   metavar="NAME:LOWER:UPPER[:log][:int] | NAME:choice:A,B,...",
                   help="a parameter, :log for a log scale, :int for an integer, or a "
                   "categorical one with its labels; repeat for each")
    c.add_argument("--direction", choices=["minimize", "maximize"], default="minimize")
    c.add_argument("--strategy", default="",
                   help="lago (default), bo, trust-region, sobol or random")
    c.add_argument("--gradient-mode", choices=["none", "enhanced", "on_request"], default="none")
    c.add_argument("--gradient-cost", type=float, default=0.0)
    c.add_argument("--budget", type=float, default=0.0, help="cost units; 0 is unlimited")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="a strategy option (gamma=3, initial_points=20, ...); repeat for each")
    c.add_argument("--metadata", action="append", metavar="KEY=VALUE")
    c.set_defaults(func=_cmd_create)

    s = sub.add_parser("suggest", help="ask for trials")
    s.add_argument("study")
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--client-id", default="")
    s.add_argument("--json", action="store_true", help="one JSON object per trial")
    s.set_defaults(func=_cmd_suggest)

    o = sub.add_parser("observe", help="tell a trial's result")
    o.add_argument("study")
    o.add_argument("trial", type=int)
    o.add_argument("value", type=float, nargs="?")
    o.add_argument("--gradient", type=_parse_floats,
                   help="comma-separated, user units; 0 along integer and categorical "
                   "parameters")
    o.add_argument("--noise-std", type=float, metavar="SD",
                   help="the standard deviation of the value's noise, stored with the "
                   "trial (the models fit the noise themselves with the strategy option "
                   "noise=1)")
    o.add_argument("--failed", metavar="REASON", help="the evaluation failed")
    o.set_defaults(func=_cmd_observe)

    st = sub.add_parser("status", help="one study, or all")
    st.add_argument("study", nargs="?")
    st.set_defaults(func=_cmd_status)

    t = sub.add_parser("trials", help="list a study's trials")
    t.add_argument("study")
    t.add_argument("--state", action="append",
                   choices=["pending", "completed", "failed", "abandoned", "stale"])
    t.set_defaults(func=_cmd_trials)

    b = sub.add_parser("best", help="the best completed trial")
    b.add_argument("study")
    b.add_argument("--model", action="store_true",
                   help="also the model's mean and std there, where its mean is best, "
                   "and the trial where it is best (the one to recommend with noisy values)")
    b.set_defaults(func=_cmd_best)

    pr = sub.add_parser("predict", help="the model's mean and std at given points")
    pr.add_argument("study")
    pr.add_argument("--at", type=_parse_point, action="append", required=True,
                    metavar="X1,X2,...", help="a point in user units (a categorical "
                    "parameter by its label); repeat for each")
    pr.add_argument("--json", action="store_true", help="one JSON object per point")
    pr.set_defaults(func=_cmd_predict)

    e = sub.add_parser("export", help="every trial as CSV or JSON")
    e.add_argument("study")
    e.add_argument("--format", choices=["csv", "json"], default="csv")
    e.add_argument("--out", help="file to write (default: standard output)")
    e.set_defaults(func=_cmd_export)

    w = sub.add_parser("watch", help="follow a study live: trials, best (with noisy values also "
                       "the recommended trial), rate, last steps")
    w.add_argument("study")
    w.add_argument("--interval", type=float, default=2.0, help="seconds between updates")
    w.add_argument("--count", type=int, default=0, help="stop after this many updates")
    w.add_argument("--follow-stopped", action="store_true",
                   help="keep watching after the study stops")
    w.set_defaults(func=_cmd_watch)

    pl = sub.add_parser("plot", help="convergence plot (PNG) marking local and global steps")
    pl.add_argument("study")
    pl.add_argument("--out", required=True, help="PNG file to write")
    pl.set_defaults(func=_cmd_plot)

    wb = sub.add_parser("web", help="a read-only view of the studies in a browser")
    wb.add_argument("--listen", default=os.environ.get("LAGO_WEB_LISTEN", "127.0.0.1:8080"),
                    help="HOST:PORT to serve on; port 0 picks a free one "
                         "(env LAGO_WEB_LISTEN; default %(default)s)")
    wb.add_argument("--refresh", type=float, default=10.0,
                    help="seconds between a page's reloads; 0 never (default %(default)s)")
    wb.add_argument("--verbose", action="store_true", help="log each request to stderr")
    wb.set_defaults(func=_cmd_web)

    sp = sub.add_parser("stop", help="stop a study: no more suggestions")
    sp.add_argument("study")
    sp.set_defaults(func=_cmd_stop)

    d = sub.add_parser("delete", help="delete a study and all its trials")
    d.add_argument("study")
    d.set_defaults(func=_cmd_delete)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    token = None
    if args.token_file:
        try:
            with open(args.token_file) as f:
                token = f.read().strip()
        except OSError as e:
            print(f"lago: --token-file: cannot read {args.token_file}: {e.strerror}",
                  file=sys.stderr)
            return 2
    client = Client(args.address, timeout=args.timeout, token=token, tls_ca=args.tls_ca,
                    tls_cert=args.tls_cert, tls_key=args.tls_key)
    try:
        args.func(client, args)
    except LagoError as e:
        print(f"lago: {e.code.name}: {e.details}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`lago trials s | head`): stop quietly, and keep
        # Python from failing again on flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        client.close()
    return 0
