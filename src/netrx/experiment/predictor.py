"""The predictor of a finished run: its fitted preprocessing and chosen predictor, read
back from ``runs/<name>/`` (``netrx.load``, ``netrx predict``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netrx.config import load_config
from netrx.errors import DataError, RunDirError
from netrx.experiment.build import build_population
from netrx.experiment.rundir import FILES, read_summary, read_weights
from netrx.files import read_json


class Predictor:
    """A finished run's fitted preprocessing and its chosen predictor: the ensemble the run
    chose (``ensemble_members`` in its summary: the mean of their predictions), else its
    best member; ``member=k`` uses member k alone."""

    def __init__(self, run_dir: str | os.PathLike, member: int | None = None,
                 device: str = "auto") -> None:
        from netrx.data import Preprocessor, Standardizer
        from netrx.train.losses import LOSSES

        self.run_dir = d = Path(run_dir)
        missing = [f for f in FILES if not (d / f).is_file()]
        if missing:
            raise RunDirError(f"{d} is not a complete netrx run directory: missing "
                              f"{', '.join(missing)}")
        self.config = load_config(d / "config.yaml")
        self.config.device = device
        pre = read_json(d / "preprocess.json")
        self.summary = read_summary(d)
        if not isinstance(pre, dict) or any(k not in pre for k in (
                "task", "classes", "columns", "preprocessor", "objective")):
            raise RunDirError(f"{d / 'preprocess.json'} lacks the fitted preprocessing: it is "
                              "not a file netrx wrote")
        self.task: str = pre["task"]
        self.classes: list[str] = pre["classes"]
        self.columns: list[str] = pre["columns"]
        self.preprocessor = Preprocessor.from_state_dict(pre["preprocessor"])
        #: regression: μ_y, σ_y of the training targets (predictions are mapped back)
        self.target_scaler = Standardizer.from_state_dict(pre["target_scaler"]) \
            if pre.get("target_scaler") else None
        self.objective = LOSSES[pre["objective"]]
        self.member = int(self.summary["best_member"] if member is None else member)
        n_outputs = self.objective.n_outputs(len(self.classes))
        self.population = build_population(self.config, self.preprocessor.input_shape_,
                                           n_outputs)
        state = read_weights(d / "weights.safetensors")
        live = self.population.stacked_state()
        if set(state) != set(live) or any(state[n].shape != t.shape for n, t in live.items()):
            raise RunDirError(f"{d / 'weights.safetensors'} does not match the network of "
                              f"{d / 'config.yaml'} (another architecture or number of members)")
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
        """Class names (classification) or real values in the target's units (regression:
        y = μ_y + σ_y·ŷ when the run standardized its target)."""
        if self.task == "classification":
            idx = self.predict_proba(X).argmax(-1)
            return np.asarray(self.classes, dtype=object)[idx]
        out = self._outputs(X).squeeze(-1).double().cpu().numpy()
        if self.target_scaler is None:
            return out
        return self.target_scaler.inverse_transform(out.reshape(-1, 1)).reshape(out.shape)


def load(run_dir: str | os.PathLike, member: int | None = None, device: str = "auto") -> Predictor:
    """The predictor of a finished run: ``netrx.load("runs/x").predict(X)``."""
    return Predictor(run_dir, member=member, device=device)


def kept_columns(data: str, keep: str, n_rows: int) -> Any:
    """The CSV columns named in ``keep`` (comma-separated: IDs, names) for passing through
    beside the predictions, row for row."""
    from netrx.errors import DataError

    path = Path(data)
    if path.suffix.lower() != ".csv" or not path.is_file():
        raise DataError(f"--keep passes CSV columns through; {data!r} is not a CSV file")
    import pandas as pd

    names = [c.strip() for c in keep.split(",") if c.strip()]
    frame = pd.read_csv(path)
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(f"--keep {','.join(missing)}: {path} has no such column (it has "
                        f"{', '.join(map(str, frame.columns[:12]))})")
    if len(frame) != n_rows:
        raise DataError(f"{path} has {len(frame)} rows but {n_rows} were predicted")
    return frame[names]


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
        import zipfile

        try:  # allow_pickle=False: an object array is refused, never unpickled
            with np.load(path, allow_pickle=False) as npz:
                if "X" not in npz:
                    raise DataError(f"{path} has no array 'X' (found {', '.join(npz.files)})")
                X, y = npz["X"], (npz["y"] if "y" in npz else None)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise DataError(f"cannot read NPZ file {path}: {str(e).splitlines()[0][:120]} "
                            "(numeric arrays X, y; object arrays are not loaded)") from None
        if y is not None and predictor.task == "classification" and y.dtype.kind in "iu":
            y = np.asarray(predictor.classes, dtype=object)[y] if len(predictor.classes) \
                else y
        return X, y
    if data in builtin_names():
        ds = load(data)
        X, y = (ds.X_test, ds.y_test) if ds.X_test is not None else (ds.X, ds.y)
        labels = np.asarray(ds.classes, dtype=object)[y] if ds.classes else y
        return X, labels
    raise DataError(f"cannot read {data!r}: give a built-in dataset name "
                    f"({', '.join(builtin_names())}) or an existing .csv/.npz file")
