"""Convergence plots of a study (matplotlib, imported only when plotting)."""

import math

KIND_STYLE = {
    "initial": ("#9e9e9e", "o", "initial design"),
    "informed": ("#6a1b9a", "D", "informed step"),
    "global": ("#1565c0", "^", "global (EI)"),
    "local": ("#e65100", "s", "local (trust region)"),
    "gradient_at_incumbent": ("#2e7d32", "v", "gradient at incumbent"),
    "imported": ("#795548", "x", "imported"),
}


def convergence(trials, maximize):
    """The completed trials in the order of their results, their values, the
    best so far after each, and whether to draw them on a log scale (every
    value positive and more than two decades between them)."""
    done = sorted((t for t in trials if t.state == "completed"),
                  key=lambda t: (t.complete_time or 0, t.id))
    values = [t.value for t in done]
    best, running = [], None
    for v in values:
        running = v if running is None else (max(running, v) if maximize else min(running, v))
        best.append(running)
    log = bool(values) and min(values) > 0 and max(values) / min(values) > 100
    return done, values, best, log


def plot_study(info, trials, out):
    """Writes a PNG to `out`: every completed value in the order of its result
    (coloured by the kind of step that proposed it), the best so far, and the
    trust-region radius where the strategy reported one."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maximize = info.spec.direction == 2  # DIRECTION_MAXIMIZE
    done, values, best, positive = convergence(trials, maximize)
    fig, (ax, ax_r) = plt.subplots(2, 1, figsize=(8, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    if not done:
        ax.text(0.5, 0.5, "no completed trials yet", ha="center", va="center",
                transform=ax.transAxes)
    xs = list(range(1, len(done) + 1))
    for kind, (color, marker, label) in KIND_STYLE.items():
        pts = [(i, t.value) for i, t in zip(xs, done) if t.kind == kind]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=18, c=color,
                       marker=marker, label=f"{label} ({len(pts)})", zorder=3)
    if best:
        ax.step(xs, best, where="post", color="black", lw=1.5, label="best so far", zorder=2)
    if positive:
        ax.set_yscale("log")
    ax.set_ylabel("value" + (" (maximised)" if maximize else ""))
    ax.set_title(f"{info.name}: {len(done)} results, strategy {info.spec.strategy}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    radii = [(i, t.why.get("radius")) for i, t in zip(xs, done)
             if t.why.get("radius") is not None and math.isfinite(t.why.get("radius"))]
    if radii:
        ax_r.plot([r[0] for r in radii], [r[1] for r in radii], ".-", color="#e65100", lw=1)
        ax_r.set_yscale("log")
    else:
        ax_r.text(0.5, 0.5, "no trust region reported", ha="center", va="center",
                  transform=ax_r.transAxes, fontsize=8)
    ax_r.set_ylabel("TR radius")
    ax_r.set_xlabel("result number")
    ax_r.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
