"""scikit-learn estimators: :class:`NetClassifier` and :class:`NetRegressor`.

The scikit-learn contract: ``__init__`` stores its parameters untouched; ``fit`` validates
the data, learns the attributes that end in ``_`` and returns ``self``; ``predict``,
``predict_proba`` (classifier) and ``score`` read them. So they work in ``Pipeline``,
``cross_val_score``, ``GridSearchCV`` and ``RandomizedSearchCV``.

``fit`` builds a :class:`~netrx.config.RunConfig` in memory from the parameters (the flat
names mirror the config keys), standardizes X with netrx's
:class:`~netrx.data.Standardizer` fitted on the training rows, and trains a population of
``members`` networks with :func:`netrx.fit` (no run directory). Member k starts from seed
``random_state + k``. Predictions average the members' probabilities (classifier) or
outputs (regressor) — an internal ensemble — or, with ``ensemble=False``, use the best
member (lowest dev error with early stopping, else lowest final training loss).
:class:`NetRegressor` also standardizes y and maps its predictions back.

Member-wise parameters (``lr``, ``dropout``, ``l2``, ``weight_decay``, ...) take one value
or a list of one value per member, as in the config.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from netrx.errors import ConfigError, DataError

try:  # scikit-learn ≥ 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)


class _NetEstimator(BaseEstimator):
    """Shared parameters and training; see :class:`NetClassifier` for their meaning."""

    _task = "classification"

    def __init__(self, hidden: tuple[int, ...] = (100,), activation: str = "relu", *,
                 family: str = "mlp", channels: int | None = None, init: str = "auto",
                 batch_norm: bool = False, dropout: float | list[float] = 0.0,
                 optimizer: str = "adam", lr: float | list[float] = 1e-3,
                 optimizer_options: dict[str, Any] | None = None,
                 schedule: str | dict[str, Any] | None = None, epochs: int = 100,
                 batch_size: int = 128, loss: str = "auto", members: int = 1,
                 ensemble: bool = True, l2: float | list[float] = 0.0,
                 l1: float | list[float] = 0.0, l1_mode: str = "subgradient",
                 weight_decay: float | list[float] = 0.0,
                 max_norm: float | list[float] | None = None,
                 dropconnect: float | list[float] = 0.0,
                 input_dropout: float | list[float] = 0.0,
                 label_smoothing: float | list[float] = 0.0, augment: str = "none",
                 noise: float | list[float] = 0.0, early_stopping: int | None = None,
                 validation_fraction: float = 0.1,
                 reduce_lr_on_plateau: int | None = None, tensorboard: str | None = None,
                 compile: bool = False,
                 impute: str | None = "mean", device: str = "auto",
                 random_state: Any = None, verbose: bool = False) -> None:
        self.hidden = hidden
        self.activation = activation
        self.family = family
        self.channels = channels
        self.init = init
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.optimizer = optimizer
        self.lr = lr
        self.optimizer_options = optimizer_options
        self.schedule = schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.loss = loss
        self.members = members
        self.ensemble = ensemble
        self.l2 = l2
        self.l1 = l1
        self.l1_mode = l1_mode
        self.weight_decay = weight_decay
        self.max_norm = max_norm
        self.dropconnect = dropconnect
        self.input_dropout = input_dropout
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.noise = noise
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.reduce_lr_on_plateau = reduce_lr_on_plateau
        self.tensorboard = tensorboard
        self.compile = compile
        self.impute = impute
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ configuration

    def _config(self, seed: int) -> Any:
        """The parameters as a validated :class:`~netrx.config.RunConfig`: each parameter
        named in :data:`netrx.config.FLAT_KEYS` sets its key; the rest say how to fit."""
        from netrx.config import FLAT_KEYS, flat_overrides, merge, parse_config

        params = self.get_params(deep=False)
        flat = {k: _plain(v) for k, v in params.items() if k in FLAT_KEYS}
        flat["hidden"] = [self.hidden] if isinstance(self.hidden, int) else list(self.hidden)
        data = merge({"name": type(self).__name__, "seed": seed}, flat_overrides(flat))
        optimizer = data["optimizer"]
        optimizer.update({k: _plain(v) for k, v in (self.optimizer_options or {}).items()})
        schedule = _schedule_spec(self.schedule, self.epochs)
        if schedule is not None:
            optimizer["schedule"] = dict(schedule)
        if self.early_stopping is not None:
            data["train"]["early_stopping"] = {"patience": self.early_stopping}
        if self.reduce_lr_on_plateau is not None:
            data["train"]["reduce_lr_on_plateau"] = {
                "patience": self.reduce_lr_on_plateau,
                "monitor": "dev_loss" if self.early_stopping is not None else "train_loss"}
        return parse_config(data)

    # ------------------------------------------------------------------ training

    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> _NetEstimator:
        """Validate X, y; standardize X on these rows; train ``members`` networks."""
        from netrx.data import Dataset, Split, Splits, Standardizer
        from netrx.experiment.assemble import train
        from netrx.experiment.prepared import Prepared
        from netrx.train.losses import objective_for

        X, y = self._validate_fit(X, y)
        y_enc, n_classes = self._encode_targets(y)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1)) \
            if not isinstance(self.random_state, int | np.integer) else int(self.random_state)
        cfg = self._config(seed)
        train_idx, dev_idx = self._dev_split(y_enc, seed, cfg.train.early_stopping is not None)
        self.standardizer_ = Standardizer().fit(X[train_idx])
        Xs = self.standardizer_.transform(X).astype(np.float32)
        objective = objective_for(cfg.train.loss, self._task, n_classes)
        parts = [Split(Xs[i], y_enc[i]) for i in (train_idx, dev_idx)]
        empty = Split(Xs[:0], y_enc[:0])
        dataset = Dataset(type(self).__name__, Xs[:1], y_enc[:1], self._task,
                          classes=tuple(str(c) for c in range(n_classes)))
        prepared = Prepared(dataset, self.standardizer_, Splits(parts[0], parts[1], empty),
                            objective)
        pieces, history = train(cfg, prepared, progress=bool(self.verbose))
        pop = pieces.population
        self.config_ = cfg
        self.population_ = _float64(pop)
        self.history_ = history
        self.best_member_ = history.best_member("dev_error" if len(dev_idx) else "train_loss")
        self.objective_ = objective.name
        return self

    def _validate_fit(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """X as floats: a DataFrame with text or missing values through netrx's table
        preprocessing (:class:`~netrx.data.transformer.TablePreprocessor`, kept as
        ``preprocessor_``), anything else through scikit-learn's strict validation."""
        from netrx.data.transformer import TablePreprocessor, needs_preprocessing

        if not needs_preprocessing(X):
            self.__dict__.pop("preprocessor_", None)
            X, y = _validate_data(self, X, y, dtype=[np.float64, np.float32],
                                  y_numeric=self._task == "regression")
            self.n_inputs_ = X.shape[1]
            return X, y
        from sklearn.utils.validation import check_consistent_length, column_or_1d

        y = column_or_1d(y, warn=True)
        if self._task == "regression":
            y = np.asarray(y, dtype=np.float64)
        check_consistent_length(X, y)
        self.preprocessor_ = TablePreprocessor(impute=self.impute).fit(X)
        self.n_features_in_ = self.preprocessor_.n_features_in_
        self.feature_names_in_ = self.preprocessor_.feature_names_in_
        Xt = self.preprocessor_.transform(X).astype(np.float64)
        self.n_inputs_ = Xt.shape[1]
        return Xt, y

    def _features(self, X: Any) -> np.ndarray:
        """New rows as the floats the members take (the fitted preprocessing, if any)."""
        if getattr(self, "preprocessor_", None) is not None:
            return self.preprocessor_.transform(X).astype(np.float64)
        return _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def _dev_split(self, y: np.ndarray, seed: int, wanted: bool) -> tuple[np.ndarray, np.ndarray]:
        n = len(y)
        everything = np.arange(n)
        if not wanted:
            return everything, everything[:0]
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(f"validation_fraction={self.validation_fraction!r} must be in "
                              "(0, 1): the share of the rows held out for early stopping")
        from sklearn.model_selection import train_test_split

        n_dev = max(1, round(self.validation_fraction * n))
        if n - n_dev < 1:
            raise DataError(f"early stopping needs a dev set but there are only {n} rows")
        stratify = y if self._task == "classification" and np.bincount(y).min() >= 2 \
            and n_dev >= len(np.unique(y)) else None
        train_idx, dev_idx = train_test_split(everything, test_size=n_dev, random_state=seed,
                                              stratify=stratify)
        return np.sort(train_idx), np.sort(dev_idx)

    # ------------------------------------------------------------------ prediction

    def _outputs(self, X: Any) -> torch.Tensor:
        """Eval-mode outputs [K', n, out] of the members used for prediction."""
        check_is_fitted(self, "population_")
        X = self._features(X)
        out = self.population_.predict(torch.from_numpy(self.standardizer_.transform(X)))
        if not self.ensemble:
            return out[self.best_member_:self.best_member_ + 1]
        ok = ~self.population_.diverged
        return out[ok] if bool(ok.any()) else out[self.best_member_:self.best_member_ + 1]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the population as its stacked tensors (it holds vmapped functions)."""
        state = self.__dict__.copy()
        pop = state.pop("population_", None)
        if pop is not None:
            state["_weights"] = {k: v.detach().cpu() for k, v in pop.stacked_state().items()}
            state["_diverged"] = pop.diverged.cpu()
        if "history_" in state:
            from netrx.train import History

            history = History()
            history.logs = list(state["history_"].logs)
            state["history_"] = history
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        weights, diverged = state.pop("_weights", None), state.pop("_diverged", None)
        self.__dict__.update(state)
        if weights is not None:
            from netrx.experiment.build import build_population
            from netrx.train.losses import LOSSES

            n_outputs = LOSSES[self.objective_].n_outputs(len(getattr(self, "classes_", ())))
            inputs = getattr(self, "n_inputs_", self.n_features_in_)
            pop = _float64(build_population(self.config_, (inputs,), n_outputs))
            pop.load_stacked_state(weights)
            pop.diverged.copy_(diverged.to(pop.device))
            self.population_ = pop


def _float64(pop: Any) -> Any:
    """A float64 copy of a trained population, for prediction: float32 products change in
    the last bits with the batch size, and a prediction should not depend on which other
    rows it is computed with (scikit-learn checks that to 1e-7)."""
    from netrx.population.population import Population

    out = Population(pop.member_module(0), pop.members, seed=pop.seeds, device=pop.device,
                     dtype=torch.float64, reinit=False)
    out.load_stacked_state(pop.stacked_state())
    out.diverged.copy_(pop.diverged)
    out.stopped.copy_(pop.stopped)
    return out


def _schedule_spec(schedule: str | dict[str, Any] | None, epochs: int) -> dict | None:
    """A schedule given by name alone runs over the epochs: a required ``total`` (cosine)
    becomes ``epochs`` with ``per="epoch"``; a mapping is passed on as it is."""
    if not isinstance(schedule, str):
        return schedule
    from netrx.registry import SCHEDULES

    spec: dict[str, Any] = {"name": schedule}
    if schedule in SCHEDULES and "total" in SCHEDULES.required(schedule):
        spec.update(total=max(int(epochs), 1), per="epoch")
    return spec


def _plain(value: Any) -> Any:
    """Tuples and NumPy values as the config's plain floats and lists."""
    if isinstance(value, tuple | list | np.ndarray):
        return [float(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class NetClassifier(ClassifierMixin, _NetEstimator):
    """A population of neural-network classifiers with the scikit-learn interface.

    Parameters mirror the config keys (``netrx train --help``): architecture (``hidden``,
    ``activation``, ``family``, ``channels``, ``init``, ``batch_norm``, ``dropout``),
    optimization (``optimizer`` by name, ``lr``, ``optimizer_options`` such as
    ``{"b1": 0.9}`` or ``{"clip_norm": 1.0}``, ``schedule`` such as ``"cosine"`` or
    ``{"name": "exponential", "gamma": 0.95}``; a name alone anneals over ``epochs``),
    ``epochs``, ``batch_size``, ``loss``),
    regularization (``l2``, ``l1``, ``l1_mode``, ``weight_decay``, ``max_norm``,
    ``dropconnect``, ``input_dropout``, ``label_smoothing``; ``augment``, a preset such as
    ``"signal"``, with Gaussian ``noise`` σ), early stopping (``early_stopping`` = patience
    in epochs, on a stratified ``validation_fraction`` of the rows),
    ``reduce_lr_on_plateau`` (patience), ``members`` and ``ensemble`` (average the members'
    probabilities, or use the best member), ``tensorboard`` (a log directory), ``impute``
    (for a DataFrame with text or missing values, see below), ``device``,
    ``random_state`` and ``verbose`` (a progress bar).

    A pandas DataFrame with text columns or missing values goes through netrx's table
    preprocessing first (:class:`~netrx.data.transformer.TablePreprocessor`: missing
    values ← ``impute``, text one-hot, as ``netrx train`` does on a CSV), so no
    ``ColumnTransformer`` is needed; NumPy arrays are validated strictly as scikit-learn
    does (a NaN is an error).

    Learned attributes: ``classes_``, ``n_features_in_``, ``standardizer_``,
    ``preprocessor_`` (a DataFrame with text or missing values),
    ``population_``, ``history_`` (per-epoch metrics of every member), ``best_member_``,
    ``config_`` (the resolved RunConfig).
    """

    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"{type(self).__name__} needs at least two classes; y has one "
                            f"class ({self.classes_[0]!r})")
        return y_enc.astype(np.int64), len(self.classes_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities [n, n_classes], in the order of ``classes_``."""
        z = self._outputs(X).double()
        if self.objective_ == "bce":
            p1 = torch.sigmoid(z.squeeze(-1))
            p = torch.stack([1 - p1, p1], dim=-1)
        else:
            p = torch.softmax(z, dim=-1)
        return p.mean(0).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class NetRegressor(RegressorMixin, _NetEstimator):
    """A population of neural-network regressors with the scikit-learn interface.

    The parameters are those of :class:`NetClassifier` (``label_smoothing`` must stay 0).
    y is standardized with its training mean and standard deviation, and predictions are
    mapped back: ŷ = μ_y + σ_y·f(x), averaged over the members (``ensemble=True``).
    """

    _task = "regression"

    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        y = np.asarray(y, dtype=np.float64)
        self.y_mean_ = float(y.mean())
        std = float(y.std())
        self.y_scale_ = std if std > 0 else 1.0
        return ((y - self.y_mean_) / self.y_scale_).astype(np.float32), 0

    def predict(self, X: Any) -> np.ndarray:
        """μ_y + σ_y·f(x) for each row (the members' average with ``ensemble=True``)."""
        out = self._outputs(X).double().squeeze(-1).mean(0)
        return (out * self.y_scale_ + self.y_mean_).cpu().numpy()
