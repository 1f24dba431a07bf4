"""Lago: local-global optimisation of expensive functions, as a service.

    import lago
    study = lago.Client("127.0.0.1:50051").create_study("demo", {"x": (-5, 5)})
    trial = study.suggest()
    study.observe(trial, value=f(trial.x))

or, in scipy's style, ``lago.minimize(fun, bounds, jac=..., budget=...)``.
"""

from lago.client import (DEFAULT_ADDRESS, Client, LagoError, ModelBest, Prediction, Predictions,
                         Study, Trial)
from lago.optimize import OptimizeResult, minimize

__all__ = ["DEFAULT_ADDRESS", "Client", "LagoError", "ModelBest", "OptimizeResult", "Prediction",
           "Predictions", "Study", "Trial", "minimize"]
