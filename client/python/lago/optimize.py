"""lago.minimize: scipy.optimize.minimize's shape, evaluated through a lago-server."""

import math
import uuid
from typing import Callable, Dict, Optional, Sequence, Tuple

from lago.client import DEFAULT_ADDRESS, Client, LagoError


class OptimizeResult(dict):
    """The result of minimize, as in scipy: keys are also attributes.

    x, fun: the best point and its value; jac: the gradient there, when known;
    nfev, njev: evaluations of fun and of the gradient; nit: trials evaluated;
    success, status, message; study: the study's name.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self):
        width = max(len(k) for k in self)
        return "\n".join(f"{k.rjust(width)}: {v!r}" for k, v in self.items())


def minimize(fun: Callable, bounds: Sequence[Tuple[float, float]], *, args: tuple = (),
             jac=None, budget: Optional[float] = None, address: str = DEFAULT_ADDRESS,
             strategy: str = "", seed: int = 0, study: Optional[str] = None,
             client_id: str = "", callback: Optional[Callable] = None,
             disp: bool = False, options: Optional[Dict[str, str]] = None) -> OptimizeResult:
    """Minimises ``fun(x, *args)`` over the box ``bounds`` through a lago-server.

    bounds: one ``(lower, upper)`` per variable, followed by ``"log"`` for a
    variable searched on a log scale (lower > 0), ``"int"`` for one that takes
    whole numbers, or both; or a list of labels for a categorical variable,
    which ``fun`` and the result's ``x`` hold as the chosen label. With
    ``jac``, the gradient's entry for an integer or categorical variable is 0,
    and at least one variable is continuous.

    jac: None or False (values only); True (``fun`` returns ``(value, gradient)``);
    or a callable ``jac(x, *args)`` called only when a trial asks for a gradient.
    budget: cost units (a value costs 1, a gradient 1); default 20 * len(bounds).
    study: the study's name; a fresh name by default. Re-running with the same
    name continues that study.
    callback: called as ``callback(trial, best)`` after each observation, with the
    observed Trial and the best so far (None before a success); returning True
    stops early. disp: print one line per evaluation. options: the strategy's
    options (strategy_options), e.g. {"early_stop": "1"}.
    """
    bounds = [list(b) if isinstance(b, list) else (float(b[0]), float(b[1])) + tuple(b[2:])
              for b in bounds]
    d = len(bounds)
    if budget is None:
        budget = 20.0 * d
    with_gradient = jac is True or callable(jac)
    name = study or f"minimize-{uuid.uuid4().hex[:12]}"
    client = Client(address)
    try:
        handle = client.create_study(
            name, [(f"x{i}", b) if isinstance(b, list) else (f"x{i}",) + b
                   for i, b in enumerate(bounds)],
            strategy=strategy, seed=seed, budget=float(budget), strategy_options=options,
            gradient_mode="enhanced" if with_gradient else "none")
        nfev = njev = nit = 0
        message, status = "budget spent", 0
        while True:
            try:
                trial = handle.suggest(client_id=client_id)
            except LagoError as e:
                if e.code.name == "RESOURCE_EXHAUSTED":
                    break
                if e.code.name == "FAILED_PRECONDITION" and "is done" in e.details:
                    message = "the strategy stopped early: nothing left worth evaluating"
                    break
                raise
            x = list(trial.params.values())
            gradient = None
            try:
                if jac is True:
                    value, gradient = fun(x, *args)
                    nfev += 1
                    njev += 1
                else:
                    value = fun(x, *args)
                    nfev += 1
                    if callable(jac) and trial.need_gradient:
                        gradient = jac(x, *args)
                        njev += 1
                value = float(value)
            except BaseException as e:
                # The trial is not left pending: the study records why it failed.
                handle.fail(trial, f"fun raised {e!r}"[:4096])
                raise
            if not math.isfinite(value):
                trial = handle.fail(trial, f"fun returned {value}")
            else:
                trial = handle.observe(
                    trial, value,
                    gradient=[float(g) for g in gradient] if gradient is not None else None)
            nit += 1
            best = handle.best()
            if disp:
                best_text = f"{best.value:.6g}" if best else "-"
                print(f"lago: trial {trial.id:4d} [{trial.kind}] f = {value:.6g}  best = {best_text}",
                      flush=True)
            if callback is not None and callback(trial, best):
                message, status = "stopped by callback", 1
                break
        best = handle.best()
        if best is None:
            return OptimizeResult(x=None, fun=None, jac=None, nfev=nfev, njev=njev, nit=nit,
                                  success=False, status=2, message="no successful evaluation",
                                  study=name)
        return OptimizeResult(x=list(best.params.values()), fun=best.value, jac=best.gradient, nfev=nfev,
                              njev=njev, nit=nit, success=True, status=status,
                              message=message, study=name)
    finally:
        client.close()
