"""The run directory ``runs/<name>/`` and the predictor that reads it back.

Files: ``config.yaml`` (fully resolved), ``history.csv``, ``summary.json``,
``preprocess.json`` (fitted preprocessing and class names) and
``weights.safetensors`` (every member's parameters and buffers, stacked [K, ...]).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from netrx.config import load_config, to_yaml
from netrx.errors import DataError, RunDirError
from netrx.train.callbacks import write_atomic

if TYPE_CHECKING:
    from netrx.experiment import RunResult

FILES = ("config.yaml", "history.csv", "summary.json", "preprocess.json", "weights.safetensors")


def _json(obj: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, (np.integer,)):
            return int(o)
        if isinstance(o, (np.floating,)):
            return float(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"cannot serialise {type(o).__name__}")

    return json.dumps(obj, indent=2, default=default, allow_nan=False)


def write_run(result: RunResult, directory: str | os.PathLike) -> Path:
    """Write every file of a finished run into ``directory`` (each atomically)."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ds = result.prepared.dataset
    write_atomic(d / "config.yaml", lambda f: f.write(to_yaml(result.config)), mode="w")
    result.history.to_csv(d / "history.csv")
    summary = _finite(result.summary())
    write_atomic(d / "summary.json", lambda f: f.write(_json(summary)), mode="w")
    pre = {"preprocessor": result.prepared.preprocessor.state_dict(), "task": ds.task,
           "classes": list(ds.classes), "columns": list(ds.columns),
           "categorical": list(ds.categorical), "input_shape": list(ds.input_shape),
           "objective": result.prepared.objective.name}
    write_atomic(d / "preprocess.json", lambda f: f.write(_json(pre)), mode="w")
    state = {k: v.detach().cpu().contiguous() for k, v in result.population.stacked_state().items()}
    meta = {"best_member": str(result.best), "members": str(result.population.members)}
    tmp = d / ".weights.safetensors.tmp"
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, d / "weights.safetensors")
    return d


def _finite(obj: Any) -> Any:
    """Replace NaN/inf by None so that summary.json stays valid JSON."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


class Predictor:
    """A finished run's fitted preprocessing and its chosen predictor: the ensemble the run
    chose (``ensemble_members`` in its summary: the mean of their predictions), else its
    best member; ``member=k`` uses member k alone."""

    def __init__(self, run_dir: str | os.PathLike, member: int | None = None,
                 device: str = "auto") -> None:
        from safetensors.torch import load_file

        from netrx.data import Preprocessor
        from netrx.experiment import Prepared, build_population
        from netrx.train.losses import LOSSES

        self.run_dir = d = Path(run_dir)
        missing = [f for f in FILES if not (d / f).is_file()]
        if missing:
            raise RunDirError(f"{d} is not a complete netrx run directory: missing "
                              f"{', '.join(missing)}")
        self.config = load_config(d / "config.yaml")
        self.config.device = device
        pre = json.loads((d / "preprocess.json").read_text())
        self.summary = json.loads((d / "summary.json").read_text())
        self.task: str = pre["task"]
        self.classes: list[str] = pre["classes"]
        self.columns: list[str] = pre["columns"]
        self.preprocessor = Preprocessor.from_state_dict(pre["preprocessor"])
        self.objective = LOSSES[pre["objective"]]
        self.member = int(self.summary["best_member"] if member is None else member)

        class _Meta:  # what build_population reads of a dataset
            n_classes = len(self.classes)

        prepared = Prepared(_Meta(), self.preprocessor, None, self.objective)  # type: ignore[arg-type]
        self.population = build_population(self.config, prepared)
        state = load_file(str(d / "weights.safetensors"))
        self.population.load_stacked_state(state)
        #: the members whose predictions are averaged (one: a single member)
        self.members: list[int] = [self.member]
        if member is None and len(self.summary.get("ensemble_members") or []) > 1:
            self.members = [int(k) for k in self.summary["ensemble_members"]]
        bad = [k for k in self.members if not 0 <= k < self.population.members]
        if bad:
            raise RunDirError(f"member {bad[0]} does not exist; the run has "
                              f"{self.population.members}")

    def _outputs(self, X: Any) -> torch.Tensor:
        """ŷ = (1/|S|) Σ_{k∈S} ŷ_k over the chosen members S: probabilities [n, C]
        (classification) or values [n, ...] (regression)."""
        from netrx.ensemble import member_outputs

        Xp = self.preprocessor.transform(np.asarray(X) if not hasattr(X, "to_numpy")
                                         else X.to_numpy(dtype=object))
        out = member_outputs(self.population, torch.as_tensor(Xp), self.objective)
        return out[self.members].mean(0)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities [n, C] (softmax or sigmoid of the logits; the mean over the
        members of an ensemble)."""
        if self.task != "classification":
            raise DataError("predict_proba is for classification runs; use predict")
        return self._outputs(X).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Class names (classification) or real values (regression)."""
        if self.task == "classification":
            idx = self.predict_proba(X).argmax(-1)
            return np.asarray(self.classes, dtype=object)[idx]
        return self._outputs(X).squeeze(-1).cpu().numpy()


def load(run_dir: str | os.PathLike, member: int | None = None, device: str = "auto") -> Predictor:
    """The predictor of a finished run: ``netrx.load("runs/x").predict(X)``."""
    return Predictor(run_dir, member=member, device=device)


def read_for_prediction(data: str, predictor: Predictor) -> tuple[Any, Any]:
    """Raw features (and labels, if present) of new data for ``predictor``: a CSV with the
    run's feature columns, an NPZ with ``X`` (and ``y``), or a built-in name (its test
    split, else all of it)."""

    from netrx.data import builtin_names, load
    from netrx.errors import DataError

    path = Path(data)
    if path.suffix.lower() == ".csv" and path.is_file():
        import pandas as pd

        frame = pd.read_csv(path)
        target = predictor.config.data.target
        y = frame.pop(target).to_numpy() if target and target in frame else None
        missing = [c for c in predictor.columns if c not in frame.columns]
        if missing:
            raise DataError(f"{path} lacks the feature columns {missing} the run was trained on")
        X = frame[list(predictor.columns)].to_numpy(dtype=object)
        return X, y
    if path.suffix.lower() == ".npz" and path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            if "X" not in npz:
                raise DataError(f"{path} has no array 'X' (found {', '.join(npz.files)})")
            y = npz["y"] if "y" in npz else None
            if y is not None and predictor.task == "classification" and y.dtype.kind in "iu":
                y = np.asarray(predictor.classes, dtype=object)[y] if len(predictor.classes) \
                    else y
            return npz["X"], y
    if data in builtin_names():
        ds = load(data)
        X, y = (ds.X_test, ds.y_test) if ds.X_test is not None else (ds.X, ds.y)
        labels = np.asarray(ds.classes, dtype=object)[y] if ds.classes else y
        return X, labels
    raise DataError(f"cannot read {data!r}: give a built-in dataset name "
                    f"({', '.join(builtin_names())}) or an existing .csv/.npz file")
