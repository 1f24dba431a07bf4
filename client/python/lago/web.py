"""``lago web``: a read-only view of a lago-server's studies in a browser.

It is a client like the others: it reads through the gRPC API (so a read-only
token is enough) and serves plain HTML with an inline SVG convergence plot,
standard library only. Pages:

    /                 every study: state, strategy, progress, best value
    /study/NAME       one study: spec, best trial (with noisy values also the
                      trial the model recommends), convergence, latest trials

Every page reloads itself every ``refresh`` seconds (0: never).
"""

import html
import http.server
import math
import urllib.parse

import grpc

from lago.client import LagoError, Trial, _enum_text, noisy_values
from lago.plot import KIND_STYLE, convergence
from lago.v1 import study_pb2

MAX_TRIAL_ROWS = 200  # Newest first; the export command gives all of them.


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _num(v, digits=6) -> str:
    """A number to `digits` significant digits; a categorical label as it is."""
    return "" if v is None else v if isinstance(v, str) else f"{v:.{digits}g}"


def _page(title, body, refresh) -> str:
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh > 0 else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{meta}
<title>{_e(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #212121; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }}
th {{ background: #f5f5f5; }}
td.l, th.l {{ text-align: left; }}
.muted {{ color: #757575; }}
</style></head>
<body>
{body}
</body></html>
"""


def convergence_svg(trials, maximize, width=720, height=300) -> str:
    """Completed values in the order of their results, coloured by the kind of
    step that proposed them, with the best so far; a log scale when every
    value is positive and they span more than two decades."""
    done, values, best_values, log = convergence(trials, maximize)
    if not done:
        return '<p class="muted">No completed trials yet.</p>'
    ys = [math.log10(v) if log else v for v in values]
    best = [math.log10(v) if log else v for v in best_values]
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-300:
        lo, hi = lo - 1.0, hi + 1.0
    left, right, top, bottom = 70, 10, 10, 40
    w, h = width - left - right, height - top - bottom
    n = len(done)

    def px(i):
        return left + (w * (i / (n - 1)) if n > 1 else w / 2)

    def py(y):
        return top + h * (hi - y) / (hi - lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="convergence">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#bbb"/>']
    for y in (lo, (lo + hi) / 2, hi):
        label = f"{10 ** y:.3g}" if log else f"{y:.4g}"
        parts.append(f'<text x="{left - 5}" y="{py(y) + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{label}</text>')
    parts.append(f'<text x="{left}" y="{height - 22}" font-size="11">1</text>')
    parts.append(f'<text x="{left + w}" y="{height - 22}" text-anchor="end" '
                 f'font-size="11">{n}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{height - 6}" text-anchor="middle" '
                 f'font-size="12">result</text>')
    path = " ".join(f"{px(i):.1f},{py(b):.1f}" for i, b in enumerate(best))
    parts.append(f'<polyline points="{path}" fill="none" stroke="#212121" '
                 f'stroke-width="1.5"><title>best so far</title></polyline>')
    for i, (t, y) in enumerate(zip(done, ys)):
        color = KIND_STYLE.get(t.kind, ("#000000",))[0]
        parts.append(f'<circle class="trial" cx="{px(i):.1f}" cy="{py(y):.1f}" r="3.5" '
                     f'fill="{color}"><title>trial {t.id} ({_e(t.kind)}): '
                     f'{t.value:.10g}</title></circle>')
    parts.append("</svg>")
    legend = " ".join(
        f'<span style="color:{color}">&#9679;</span> {_e(label)}'
        for kind, (color, _, label) in KIND_STYLE.items() if any(t.kind == kind for t in done))
    scale = " (log scale)" if log else ""
    return "\n".join(parts) + f"<p>{legend}; the line is the best so far{scale}.</p>"


def studies_page(client, refresh) -> str:
    rows = []
    for s in sorted(client.list_studies(), key=lambda s: s.name):
        st = s.stats
        best = client.study(s.name).best()
        value = _num(best.value, 10) if best is not None else ""
        budget = f"{st.cost_spent:g} / {s.spec.budget:g}" if s.spec.budget else f"{st.cost_spent:g}"
        link = "/study/" + urllib.parse.quote(s.name, safe="")
        rows.append(
            f'<tr><td class="l"><a href="{_e(link)}">{_e(s.name)}</a></td>'
            f'<td class="l">{_enum_text(study_pb2.StudyState, s.state, "STUDY_STATE_")}</td>'
            f'<td class="l">{_e(s.spec.strategy)}</td><td>{len(s.spec.parameters)}</td>'
            f"<td>{st.completed}</td><td>{st.pending}</td><td>{st.failed}</td>"
            f"<td>{budget}</td><td>{value}</td></tr>")
    if not rows:
        table = '<p class="muted">No studies yet.</p>'
    else:
        table = ('<table><tr><th class="l">study</th><th class="l">state</th>'
                 '<th class="l">strategy</th><th>parameters</th><th>completed</th>'
                 "<th>pending</th><th>failed</th><th>cost spent / budget</th>"
                 "<th>best value</th></tr>\n" + "\n".join(rows) + "</table>")
    return _page("lago: studies", f"<h1>Studies</h1>\n{table}", refresh)


def _recommended_html(study) -> str:
    """For a study with noisy values: the completed trial where the model's
    mean is best, which is the one to recommend (the best value is the
    luckiest draw of the noise)."""
    try:
        m = study.model_best()
    except LagoError as e:
        return f'<p class="muted">Recommended: no model ({_e(e.details)})</p>'
    r = m.recommended
    point = ", ".join(f"{_e(n)} = {_e(_num(v, 10))}" for n, v in r.params.items())
    return (f"<p><b>Recommended</b> (noisy values; the model's best mean at a trial): "
            f"trial {r.id}, model mean {m.at_recommended.mean:.10g} "
            f"std {m.at_recommended.std:.4g}, value {r.value:.10g}, at {point}</p>")


def study_page(client, name, refresh) -> str:
    study = client.study(name)
    info = study.info()
    trials = study.trials()
    spec, st = info.spec, info.stats
    maximize = spec.direction == study_pb2.DIRECTION_MAXIMIZE
    names = [p.name for p in spec.parameters]
    state = _enum_text(study_pb2.StudyState, info.state, "STUDY_STATE_")
    mode = _enum_text(study_pb2.GradientMode, spec.gradient_mode, "GRADIENT_MODE_")
    budget = f"{spec.budget:g}" if spec.budget else "unlimited"
    options = ", ".join(f"{_e(k)}={_e(v)}" for k, v in sorted(spec.strategy_options.items()))
    body = [f'<p><a href="/">all studies</a></p><h1>{_e(info.name)}</h1>',
            f"<p>{state}; strategy {_e(spec.strategy)}"
            + (f" ({options})" if options else "")
            + f"; {'maximise' if maximize else 'minimise'}; gradients: {mode}; "
            f"cost {st.cost_spent:g} of {budget}; trials {st.trials} (completed "
            f"{st.completed}, pending {st.pending}, stale {st.stale}, failed {st.failed}, "
            f"abandoned {st.abandoned})</p>",
            '<table><tr><th class="l">parameter</th><th>lower</th><th>upper</th>'
            '<th class="l">scale</th><th class="l">type</th><th class="l">choices</th></tr>'
            + "".join(f'<tr><td class="l">{_e(p.name)}</td><td>{p.lower:g}</td>'
                      f'<td>{p.upper:g}</td><td class="l">'
                      f'{_enum_text(study_pb2.Scale, p.scale, "SCALE_")}</td>'
                      '<td class="l">'
                      f'{_enum_text(study_pb2.ParameterType, p.type, "PARAMETER_TYPE_")}'
                      f'</td><td class="l">{_e(", ".join(p.choices))}</td></tr>'
                      for p in spec.parameters) + "</table>"]
    best = study.best()
    if best is not None:
        point = ", ".join(f"{_e(n)} = {_e(_num(v, 10))}" for n, v in best.params.items())
        body.append(f"<p><b>Best:</b> {best.value:.10g} (trial {best.id}) at {point}</p>")
        if noisy_values(spec, trials):
            body.append(_recommended_html(study))
    body.append("<h2>Convergence</h2>")
    body.append(convergence_svg(trials, maximize))
    body.append("<h2>Trials</h2>")
    shown = sorted(trials, key=lambda t: t.id, reverse=True)[:MAX_TRIAL_ROWS]
    if len(trials) > len(shown):
        body.append(f'<p class="muted">The latest {len(shown)} of {len(trials)}; '
                    f"<code>lago export {_e(info.name)}</code> gives all.</p>")
    head = ("<tr><th>trial</th><th class='l'>state</th><th class='l'>kind</th><th>value</th>"
            + "".join(f"<th>{_e(n)}</th>" for n in names)
            + "<th class='l'>winner</th><th>EI</th><th>I</th><th>radius</th>"
            "<th class='l'>client</th><th class='l'>failure</th></tr>")
    rows = [_trial_row(t) for t in shown]
    body.append("<table>" + head + "\n" + "\n".join(rows) + "</table>")
    return _page(f"lago: {info.name}", "\n".join(body), refresh)


def _trial_row(t: Trial) -> str:
    why = t.why
    cells = [str(t.id), t.state, t.kind, _num(t.value, 10)] + [
        _num(v, 8) for v in (t.params.values() if t.params else t.x)]
    cells += [why.get("winner", ""), _num(why.get("acquisition_value")),
              _num(why.get("predicted_improvement")), _num(why.get("radius")),
              t.client_id, t.failure_reason]
    left = {1, 2, len(cells) - 6, len(cells) - 2, len(cells) - 1}
    return "<tr>" + "".join(
        f'<td class="l">{_e(c)}</td>' if i in left else f"<td>{_e(c)}</td>"
        for i, c in enumerate(cells)) + "</tr>"


_STATUS = {
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 502,
    grpc.StatusCode.PERMISSION_DENIED: 502,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def make_server(client, listen, refresh=10.0, log=None):
    """An HTTP server on `listen` ("HOST:PORT"; port 0 picks a free one) that
    serves the pages above from `client`. `log(line)` gets one line per
    request. Call serve_forever() on it, and server_close() when done."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT")

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "lago-web"

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            try:
                if path == "/":
                    self._send(200, studies_page(client, refresh))
                elif path.startswith("/study/") and len(path) > len("/study/"):
                    name = urllib.parse.unquote(path[len("/study/"):])
                    self._send(200, study_page(client, name, refresh))
                else:
                    self._send(404, _page("not found", f"<h1>Not found</h1><p>{_e(path)}: no "
                                          'such page; see <a href="/">all studies</a>.</p>', 0))
            except LagoError as e:
                code = _STATUS.get(e.code, 502)
                self._send(code, _page("error", f"<h1>{_e(e.code.name)}</h1><p>{_e(e.details)}"
                                       '</p><p><a href="/">all studies</a></p>', refresh))

        def _send(self, code, text):
            data = text.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            if log is not None:
                log(f"{self.address_string()} {fmt % args}")

    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    return server
