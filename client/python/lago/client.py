"""Python client of the Lago service.

Every call has a deadline (``timeout`` seconds). A call that is safe to repeat is
retried when the server is UNAVAILABLE (restarting, shutting down, busy), with
exponential backoff; suggest and observe carry a fresh request id, which makes
their retries idempotent: a retry after a lost reply gets the first answer.
"""

import dataclasses
import os
import time
import uuid
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import grpc

from lago.v1 import lago_service_pb2 as pb
from lago.v1 import lago_service_pb2_grpc as pb_grpc
from lago.v1 import study_pb2

DEFAULT_ADDRESS = "127.0.0.1:50051"
_MAX_MESSAGE_BYTES = 16 << 20
_MAX_PREDICT = 1000  # Points per Predict call.

_DIRECTIONS = {
    "minimize": study_pb2.DIRECTION_MINIMIZE,
    "maximize": study_pb2.DIRECTION_MAXIMIZE,
}
_GRADIENT_MODES = {
    "none": study_pb2.GRADIENT_MODE_NONE,
    "enhanced": study_pb2.GRADIENT_MODE_ENHANCED,
    "on_request": study_pb2.GRADIENT_MODE_ON_REQUEST,
}
_TRIAL_STATES = {
    "pending": study_pb2.TRIAL_STATE_PENDING,
    "completed": study_pb2.TRIAL_STATE_COMPLETED,
    "failed": study_pb2.TRIAL_STATE_FAILED,
    "abandoned": study_pb2.TRIAL_STATE_ABANDONED,
    "stale": study_pb2.TRIAL_STATE_STALE,
}


def _enum_text(enum, value, prefix):
    """'TRIAL_KIND_GRADIENT_AT_INCUMBENT' -> 'gradient_at_incumbent'."""
    return enum.Name(value)[len(prefix):].lower()


class LagoError(Exception):
    """A call failed. ``code`` is the grpc.StatusCode, ``details`` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


@dataclasses.dataclass
class Trial:
    """One suggested (or imported) point and, once observed, its result.

    ``x`` and ``gradient`` are in user units, in the order of the study's parameters;
    a categorical parameter's entry in ``x`` is the index of its choice.
    ``params`` is the point by parameter name, a categorical one as its label
    (filled for trials that come through a Study).
    """

    id: int
    x: List[float]
    kind: str
    need_gradient: bool
    state: str
    client_id: str = ""
    value: Optional[float] = None
    gradient: Optional[List[float]] = None
    noise_std: Optional[float] = None
    failure_reason: str = ""
    lease_expire_time: float = 0.0
    create_time: float = 0.0
    complete_time: Optional[float] = None
    why: Dict[str, object] = dataclasses.field(default_factory=dict)
    params: Dict[str, Union[float, str]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_proto(cls, t, parameters=None) -> "Trial":
        """The Trial of a lago.v1.Trial; with the study's parameters (a list of
        lago.v1.Parameter), ``params`` too."""
        why = {"winner": t.why.winner}
        for field in ("acquisition_value", "acquisition_weight", "predicted_improvement",
                      "radius", "sequence_index"):
            if t.why.HasField(field):
                why[field] = getattr(t.why, field)
        return cls(
            id=t.id,
            x=list(t.x),
            kind=_enum_text(study_pb2.TrialKind, t.kind, "TRIAL_KIND_"),
            need_gradient=t.need_gradient,
            state=_enum_text(study_pb2.TrialState, t.state, "TRIAL_STATE_"),
            client_id=t.client_id,
            value=t.value if t.HasField("value") else None,
            gradient=list(t.gradient) if len(t.gradient) else None,
            noise_std=t.noise_std if t.HasField("noise_std") else None,
            failure_reason=t.failure_reason,
            lease_expire_time=t.lease_expire_time.ToMicroseconds() / 1e6,
            create_time=t.create_time.ToMicroseconds() / 1e6,
            complete_time=(t.complete_time.ToMicroseconds() / 1e6
                           if t.HasField("complete_time") else None),
            why=why,
            params=labelled(parameters, t.x) if parameters is not None else {},
        )


@dataclasses.dataclass
class Predictions:
    """The posterior of a study's model at several points, in the study's
    direction and user units: entry i of each list is for point i."""

    mean: List[float]
    # Standard deviation of the objective's value (without observation noise).
    std: List[float]
    # d mean / d x and d std / d x, one entry per parameter.
    mean_gradient: List[List[float]]
    std_gradient: List[List[float]]
    # The completed results the model holds, and its lengthscales (user units).
    model_points: int
    lengthscales: List[float]


@dataclasses.dataclass
class Prediction:
    """The posterior of a study's model at one point, in the study's direction
    and user units."""

    mean: float
    # Standard deviation of the objective's value (without observation noise).
    std: float
    # d mean / d x and d std / d x, one entry per parameter.
    mean_gradient: List[float]
    std_gradient: List[float]

    @classmethod
    def from_proto(cls, p) -> "Prediction":
        return cls(mean=p.mean, std=p.std, mean_gradient=list(p.mean_gradient),
                   std_gradient=list(p.std_gradient))


@dataclasses.dataclass
class ModelBest:
    """The best completed trial with the model's view of it: the posterior at
    its point (``at_best``), the point where the model's mean is best over
    the box (``optimum_x``, in user units) with the posterior there, and the
    completed trial where it is best (``recommended``)."""

    best: Optional[Trial]
    at_best: Optional[Prediction]
    optimum_x: List[float]
    at_optimum: Prediction
    # The completed results the model holds, and its lengthscales (user units).
    model_points: int
    lengthscales: List[float]
    # optimum_x by parameter name, a categorical entry as its label.
    optimum_params: Dict[str, Union[float, str]] = dataclasses.field(default_factory=dict)
    # Of the completed trials, the one where the model's mean is best, and the
    # posterior there: with noisy values, the trial to recommend (``best`` is
    # then the luckiest draw of the noise).
    recommended: Optional[Trial] = None
    at_recommended: Optional[Prediction] = None


# {name: (lower, upper)} or [(name, lower, upper)]; after upper, "log" for a
# log-scale parameter and "int" for an integer one, in any order. A list of
# labels in place of the bounds makes a categorical parameter:
# {"solvent": ["water", "ethanol"]} or [("solvent", ["water", "ethanol"])].
ParameterSpec = Union[Dict[str, Union[Tuple, List[str]]], Sequence[Tuple]]

_SCALES = {"linear": study_pb2.SCALE_LINEAR, "log": study_pb2.SCALE_LOG}
_TYPES = {"int": study_pb2.PARAMETER_TYPE_INTEGER}


def _valid_words(words) -> bool:
    """Whether the words after a parameter's bounds are each a scale or "int",
    none twice and not two scales."""
    return (len(set(words)) == len(words) and all(w in _SCALES or w in _TYPES for w in words)
            and sum(w in _SCALES for w in words) <= 1)


def _categorical(name, choices) -> study_pb2.Parameter:
    for c in choices:
        if not isinstance(c, str):
            raise ValueError(f"parameters[{name!r}]: choice {c!r} is not a string (a number "
                             "that takes whole values is (lower, upper, \"int\"))")
    return study_pb2.Parameter(name=name, type=study_pb2.PARAMETER_TYPE_CATEGORICAL,
                               choices=list(choices))


def _parameters(parameters: ParameterSpec) -> List[study_pb2.Parameter]:
    items = parameters.items() if isinstance(parameters, dict) else [
        (p[0], p[1] if len(p) == 2 and isinstance(p[1], list) else tuple(p[1:]))
        for p in parameters]
    out = []
    for name, bounds in items:
        if isinstance(bounds, list):
            out.append(_categorical(name, bounds))
            continue
        words = list(bounds[2:])
        if len(bounds) < 2 or len(words) > 2:
            raise ValueError(f"parameters[{name!r}]: {bounds!r} is not (lower, upper) "
                             "followed by \"log\" or \"int\" or both")
        if not _valid_words(words):
            raise ValueError(f"parameters[{name!r}]: {words!r} are not words of "
                             f"{sorted(_SCALES) + sorted(_TYPES)}, each at most once and "
                             "one scale at most")
        scale = next((w for w in words if w in _SCALES), "linear")
        out.append(study_pb2.Parameter(
            name=name, lower=float(bounds[0]), upper=float(bounds[1]), scale=_SCALES[scale],
            type=_TYPES["int"] if "int" in words else study_pb2.PARAMETER_TYPE_CONTINUOUS))
    return out


def labelled(parameters, x) -> Dict[str, Union[float, str]]:
    """The point ``x`` (user units, in the order of ``parameters``, a list of
    lago.v1.Parameter) by parameter name, a categorical entry as its label."""
    out = {}
    for p, v in zip(parameters, x):
        categorical = p.type == study_pb2.PARAMETER_TYPE_CATEGORICAL
        if categorical and v == int(v) and 0 <= v < len(p.choices):
            out[p.name] = p.choices[int(v)]
        else:
            out[p.name] = v
    return out


def unlabelled(parameters, x, field: str = "x") -> List[float]:
    """``x`` with every categorical entry given as a label replaced by its
    index; ValueError naming ``field`` for a label that is not a choice. (The
    server checks the length and the bounds.)"""
    out = []
    for i, v in enumerate(x):
        p = parameters[i] if i < len(parameters) else None
        if isinstance(v, str):
            if p is None:
                raise ValueError(f"{field}[{i}]: {v!r} is a label beyond the study's "
                                 f"{len(parameters)} parameters")
            if p.type != study_pb2.PARAMETER_TYPE_CATEGORICAL:
                raise ValueError(f"{field}[{i}] ({p.name}): {v!r} is a label, and the "
                                 "parameter is not categorical")
            if v not in p.choices:
                raise ValueError(f"{field}[{i}] ({p.name}): {v!r} is not one of "
                                 f"{list(p.choices)}")
            v = list(p.choices).index(v)
        out.append(float(v))
    return out


class Client:
    """A connection to a lago-server.

    ``timeout`` is the deadline of each attempt in seconds; ``retries`` the number
    of extra attempts for a call that is safe to repeat when the server is
    UNAVAILABLE.

    Security: ``token`` is sent as "authorization: Bearer <token>" with every
    call (default: the environment variable LAGO_TOKEN). ``tls_ca`` is the path
    of the PEM file of the CA that signed the server's certificate and turns
    TLS on (default: LAGO_TLS_CA); ``tls_cert`` and ``tls_key`` are the
    client's certificate and key when the server asks for one.
    """

    def __init__(self, address: str = DEFAULT_ADDRESS, timeout: float = 30.0,
                 retries: int = 6, backoff: float = 0.1, token: Optional[str] = None,
                 tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
                 tls_key: Optional[str] = None):
        self.address = address
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        token = token if token is not None else os.environ.get("LAGO_TOKEN", "")
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        tls_ca = tls_ca if tls_ca is not None else os.environ.get("LAGO_TLS_CA", "")
        options = [
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            # A restarted server is found again within a second or two, not
            # after gRPC's default reconnect backoff of up to two minutes.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        if tls_ca:
            def read(path):
                with open(path, "rb") as f:
                    return f.read()
            credentials = grpc.ssl_channel_credentials(
                root_certificates=read(tls_ca),
                private_key=read(tls_key) if tls_key else None,
                certificate_chain=read(tls_cert) if tls_cert else None)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = pb_grpc.LagoStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method: str, request, retry: bool = True):
        rpc = getattr(self._stub, method)
        attempts = 1 + (self.retries if retry else 0)
        delay = self.backoff
        for attempt in range(attempts):
            try:
                return rpc(request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as e:
                code = e.code()
                # UNAVAILABLE, or every server thread busy (gRPC refuses the
                # call before the service sees it): safe to send again.
                busy = (code == grpc.StatusCode.RESOURCE_EXHAUSTED
                        and "Threadpool Exhausted" in (e.details() or ""))
                if (code == grpc.StatusCode.UNAVAILABLE or busy) and attempt + 1 < attempts:
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                raise LagoError(code, e.details() or "") from None
        raise AssertionError("unreachable")

    # Studies.
    def create_study(self, name: str, parameters: ParameterSpec, *,
                     direction: str = "minimize", strategy: str = "",
                     strategy_options: Optional[Dict[str, str]] = None,
                     gradient_mode: str = "none", gradient_cost: float = 0.0,
                     budget: float = 0.0, seed: int = 0,
                     metadata: Optional[Dict[str, str]] = None,
                     lease_seconds: float = 0.0) -> "Study":
        """Creates the study, or opens it when one with an equal spec exists.

        ``parameters``: {name: (lower, upper)} or [(name, lower, upper), ...];
        after upper, "log" puts a parameter on a log scale (lower > 0): the
        models then work in log(x), while points, values and gradients stay
        in user units; "int" makes it an integer (whole bounds; every point
        holds a whole number there, as a float). Both may follow: (1, 1024,
        "log", "int"). A list of labels in place of the bounds, {"solvent":
        ["water", "ethanol", "acetone"]}, makes a categorical parameter: a
        Trial's ``x`` holds the index of its choice and ``params`` the label.
        A gradient has one entry per parameter, 0 along an integer or
        categorical one; gradient modes need a continuous parameter.
        ``direction``: "minimize" or "maximize". ``gradient_mode``: "none",
        "enhanced" or "on_request". ``budget`` in cost units (0: unlimited).
        Raises LagoError(ALREADY_EXISTS) when the name has a different spec.
        """
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction: {direction!r} is not one of {sorted(_DIRECTIONS)}")
        if gradient_mode not in _GRADIENT_MODES:
            raise ValueError(
                f"gradient_mode: {gradient_mode!r} is not one of {sorted(_GRADIENT_MODES)}")
        spec = study_pb2.StudySpec(
            parameters=_parameters(parameters),
            direction=_DIRECTIONS[direction],
            strategy=strategy,
            strategy_options=strategy_options or {},
            gradient_mode=_GRADIENT_MODES[gradient_mode],
            gradient_cost=gradient_cost,
            budget=budget,
            seed=seed,
            metadata=metadata or {},
            lease_seconds=lease_seconds,
        )
        response = self._call("CreateStudy", pb.CreateStudyRequest(name=name, spec=spec))
        return Study(self, response.study.name, response.study.spec.parameters)

    def study(self, name: str) -> "Study":
        """The existing study ``name``; raises LagoError(NOT_FOUND) when there is none."""
        response = self._call("GetStudy", pb.GetStudyRequest(name=name))
        return Study(self, name, response.study.spec.parameters)

    def get_study(self, name: str):
        """The study as a lago.v1.Study message (spec, state, stats)."""
        return self._call("GetStudy", pb.GetStudyRequest(name=name)).study

    def list_studies(self) -> list:
        """Every study as lago.v1.Study messages, in name order."""
        out, token = [], ""
        while True:
            response = self._call("ListStudies",
                                  pb.ListStudiesRequest(page_size=1000, page_token=token))
            out.extend(response.studies)
            token = response.next_page_token
            if not token:
                return out

    def delete_study(self, name: str) -> None:
        self._call("DeleteStudy", pb.DeleteStudyRequest(name=name), retry=False)

    def stop_study(self, name: str):
        return self._call("StopStudy", pb.StopStudyRequest(name=name)).study


class Study:
    """A handle on one study of a Client."""

    def __init__(self, client: Client, name: str, parameters=None):
        self.client = client
        self.name = name
        self._parameters = list(parameters) if parameters is not None else None

    @property
    def parameters(self) -> list:
        """The study's parameters as lago.v1.Parameter messages (read once: a
        study's parameters never change)."""
        if self._parameters is None:
            self._parameters = list(self.info().spec.parameters)
        return self._parameters

    def _trial(self, t) -> Trial:
        return Trial.from_proto(t, self.parameters)

    def __repr__(self):
        return f"Study({self.name!r} at {self.client.address})"

    def info(self):
        """The study as a lago.v1.Study message (spec, state, stats)."""
        return self.client.get_study(self.name)

    def suggest(self, count: Optional[int] = None, client_id: str = "") -> Union[Trial, List[Trial]]:
        """One Trial, or a list of ``count`` trials.

        A client that asks again with the same ``client_id`` gets its own pending
        trials back first. Raises LagoError(RESOURCE_EXHAUSTED) when the budget is
        spent, LagoError(FAILED_PRECONDITION) when the study is stopped.
        """
        request = pb.SuggestTrialsRequest(study=self.name, client_id=client_id,
                                          count=count or 1, request_id=uuid.uuid4().hex)
        trials = [self._trial(t) for t in self.client._call("SuggestTrials", request).trials]
        return trials if count is not None else trials[0]

    def observe(self, trial: Union[Trial, int], value: float,
                gradient: Optional[Iterable[float]] = None,
                noise_std: Optional[float] = None) -> Trial:
        """Tells the value (and gradient, in user units) of a trial.

        Returns once the result is on the server's disk.
        """
        request = pb.ObserveTrialRequest(
            study=self.name, trial_id=_trial_id(trial), value=float(value),
            gradient=[float(g) for g in gradient] if gradient is not None else [],
            request_id=uuid.uuid4().hex)
        if noise_std is not None:
            request.noise_std = float(noise_std)
        return self._trial(self.client._call("ObserveTrial", request).trial)

    def fail(self, trial: Union[Trial, int], reason: str = "") -> Trial:
        """Reports that the evaluation of a trial failed."""
        request = pb.ObserveTrialRequest(study=self.name, trial_id=_trial_id(trial), failed=True,
                                         failure_reason=reason, request_id=uuid.uuid4().hex)
        return self._trial(self.client._call("ObserveTrial", request).trial)

    def heartbeat(self, trial: Union[Trial, int]) -> Trial:
        """Renews the lease of a pending trial."""
        request = pb.HeartbeatRequest(study=self.name, trial_id=_trial_id(trial))
        return self._trial(self.client._call("Heartbeat", request).trial)

    def abandon(self, trial: Union[Trial, int], reason: str = "") -> Trial:
        request = pb.AbandonTrialRequest(study=self.name, trial_id=_trial_id(trial), reason=reason)
        return self._trial(self.client._call("AbandonTrial", request).trial)

    def trials(self, states: Optional[Iterable[str]] = None) -> List[Trial]:
        """Every trial in id order, optionally only those in ``states``
        (pending, completed, failed, abandoned, stale)."""
        wanted = []
        for s in states or []:
            if s not in _TRIAL_STATES:
                raise ValueError(f"states: {s!r} is not one of {sorted(_TRIAL_STATES)}")
            wanted.append(_TRIAL_STATES[s])
        out, token = [], ""
        while True:
            response = self.client._call("ListTrials", pb.ListTrialsRequest(
                study=self.name, states=wanted, page_size=1000, page_token=token))
            out.extend(self._trial(t) for t in response.trials)
            token = response.next_page_token
            if not token:
                return out

    def best(self) -> Optional[Trial]:
        """The completed trial with the best value, or None before the first result."""
        response = self.client._call("GetBest", pb.GetBestRequest(study=self.name))
        return self._trial(response.best) if response.HasField("best") else None

    def model_best(self) -> ModelBest:
        """The best completed trial, the model's posterior at its point,
        where the model's mean is best over the box (searched as the informed
        step searches it), and the completed trial where it is best. Raises
        LagoError(FAILED_PRECONDITION) for a strategy without a model and
        before the first result."""
        response = self.client._call(
            "GetBest", pb.GetBestRequest(study=self.name, include_model=True))
        m = response.model
        has_best = response.HasField("best")
        return ModelBest(
            best=self._trial(response.best) if has_best else None,
            at_best=Prediction.from_proto(m.at_best) if has_best else None,
            optimum_x=list(m.optimum_x),
            at_optimum=Prediction.from_proto(m.at_optimum),
            model_points=m.model_points,
            lengthscales=list(m.lengthscales),
            optimum_params=labelled(self.parameters, m.optimum_x),
            recommended=self._trial(m.recommended) if has_best else None,
            at_recommended=Prediction.from_proto(m.at_recommended) if has_best else None)

    def predict(self, xs: Sequence[Sequence[float]]) -> Predictions:
        """The posterior of the study's model (the GP that ``lago``, ``bo`` and
        ``trust-region`` fit) at the points ``xs``, in user units and inside the
        bounds. Asks in calls of at most 1000 points (a result that arrives
        between two calls joins the model of the later one). Raises
        LagoError(FAILED_PRECONDITION) for a strategy without a model and before
        the first result. A categorical entry may be a label or an index."""
        out = Predictions([], [], [], [], 0, [])
        xs = [unlabelled(self.parameters, x, f"xs[{i}]") for i, x in enumerate(xs)]
        if not xs:
            raise ValueError("xs: no points")
        for start in range(0, len(xs), _MAX_PREDICT):
            request = pb.PredictRequest(
                study=self.name, points=[pb.Point(x=x) for x in xs[start:start + _MAX_PREDICT]])
            response = self.client._call("Predict", request)
            for p in response.predictions:
                out.mean.append(p.mean)
                out.std.append(p.std)
                out.mean_gradient.append(list(p.mean_gradient))
                out.std_gradient.append(list(p.std_gradient))
            out.model_points = response.model_points
            out.lengthscales = list(response.lengthscales)
        return out

    def add_observations(self, xs: Sequence[Sequence[float]], values: Sequence[float],
                         gradients: Optional[Sequence[Sequence[float]]] = None,
                         noise_stds: Optional[Sequence[Optional[float]]] = None
                         ) -> List[Trial]:
        """Adds results for points that were never suggested (a warm start). A
        categorical entry of a point may be a label or an index. `noise_stds`
        gives each value's noise standard deviation where it is known (None
        where it is not), as `observe` does."""
        for name, given in (("gradients", gradients), ("noise_stds", noise_stds)):
            if given is not None and len(given) != len(xs):
                raise ValueError(f"xs and {name} must have the same length")
        if len(xs) != len(values):
            raise ValueError("xs and values must have the same length")
        observations = []
        for i, (x, v) in enumerate(zip(xs, values)):
            o = pb.Observation(x=unlabelled(self.parameters, x, f"xs[{i}]"), value=float(v))
            if gradients is not None and gradients[i] is not None:
                o.gradient.extend(float(g) for g in gradients[i])
            if noise_stds is not None and noise_stds[i] is not None:
                o.noise_std = float(noise_stds[i])
            observations.append(o)
        request = pb.AddObservationsRequest(study=self.name, observations=observations,
                                            request_id=uuid.uuid4().hex)
        return [self._trial(t)
                for t in self.client._call("AddObservations", request).trials]

    def stop(self):
        return self.client.stop_study(self.name)


def noisy_values(spec: study_pb2.StudySpec, trials: Iterable[Trial]) -> bool:
    """Whether the study's values are noisy: its strategy fits a value noise
    (option noise=1) or a result carries a noise_std. The best value is then
    the luckiest draw, and ModelBest.recommended the trial to recommend."""
    return spec.strategy_options.get("noise") == "1" or any(
        t.noise_std is not None for t in trials)


def _trial_id(trial: Union[Trial, int]) -> int:
    return trial.id if isinstance(trial, Trial) else int(trial)
