"""The run directory ``runs/<name>/``: writing it, and reading one back as a transfer
source (its best member, or a given one). :mod:`netrx.experiment.predictor` reads it for
prediction.

Files: ``config.yaml`` (fully resolved), ``history.csv``, ``summary.json``,
``preprocess.json`` (fitted preprocessing and class names) and
``weights.safetensors`` (every member's parameters and buffers, stacked [K, ...]).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import Tensor

from netrx.config import load_config, to_yaml
from netrx.errors import RunDirError, clip
from netrx.experiment.evaluate import RunResult
from netrx.files import make_dir, read_json, write_atomic, write_json
from netrx.transfer import Source, load_source, natural_order

FILES = ("config.yaml", "history.csv", "summary.json", "preprocess.json", "weights.safetensors")


def write_run(result: RunResult, directory: str | os.PathLike) -> Path:
    """Write every file of a finished run into ``directory`` (each atomically)."""
    from safetensors.torch import save

    d = make_dir(directory)
    ds = result.prepared.dataset
    write_atomic(d / "config.yaml", lambda f: f.write(to_yaml(result.config)), mode="w")
    result.history.to_csv(d / "history.csv")
    write_json(d / "summary.json", result.summary())
    pre = {"preprocessor": result.prepared.preprocessor.state_dict(), "task": ds.task,
           "classes": list(ds.classes), "columns": list(ds.columns),
           "categorical": list(ds.categorical), "input_shape": list(ds.input_shape),
           "objective": result.prepared.objective.name,
           "target_scaler": None if result.prepared.target_scaler is None
           else result.prepared.target_scaler.state_dict()}
    write_json(d / "preprocess.json", pre)
    if result.test_predictions is not None:  # y, prediction (and p_<class>) for the report
        import pandas as pd

        frame = pd.DataFrame(result.test_predictions)
        write_atomic(d / "test_predictions.csv", lambda f: frame.to_csv(f, index=False),
                     mode="w")
    from netrx.experiment.importance import feature_importance

    importance = feature_importance(result)  # tables: permutation importance on dev
    if importance is not None:
        write_json(d / "importance_features.json", importance)
    state = {k: v.detach().cpu().contiguous() for k, v in result.population.stacked_state().items()}
    meta = {"best_member": str(result.best), "members": str(result.population.members)}
    blob = save(state, metadata=meta)
    write_atomic(d / "weights.safetensors", lambda f: f.write(blob))
    return d


def read_weights(path: str | os.PathLike) -> dict[str, Tensor]:
    """A run's ``weights.safetensors``: every tensor stacked [K, ...]. Read with safetensors
    (a pickle is never unpickled); a corrupt or foreign file is a RunDirError."""
    from safetensors.torch import load_file

    path = Path(path)
    try:
        state = load_file(str(path))
    except Exception as e:  # SafetensorError, OSError, ...
        reason = clip(str(e).splitlines()[0], 80) if str(e) else type(e).__name__
        raise RunDirError(f"{path} is not a readable safetensors file ({reason}); it is "
                          "corrupt or was not written by netrx") from None
    sizes = {t.shape[0] if t.dim() else None for t in state.values()}
    if not state or len(sizes) != 1 or None in sizes:
        raise RunDirError(f"{path} does not hold a population's weights (tensors stacked "
                          "[K, ...] over its members)")
    return state


def read_summary(d: Path) -> dict[str, Any]:
    """A run's ``summary.json`` (a mapping with ``best_member``), or a RunDirError."""
    summary = read_json(d / "summary.json")
    if not isinstance(summary, dict) or not isinstance(summary.get("best_member"), int):
        raise RunDirError(f"{d / 'summary.json'} has no best_member: it is not a summary "
                          "netrx wrote")
    return summary


def read_source(path: str | os.PathLike, member: int | None = None) -> Source:
    """A transfer source: a run directory (its best member per ``summary.json``, or
    ``member``; the architecture from its ``config.yaml``) or a state-dict file."""
    d = Path(path)
    if not d.is_dir():
        return load_source(d)
    missing = [f for f in ("config.yaml", "weights.safetensors", "summary.json")
               if not (d / f).is_file()]
    if missing:
        raise RunDirError(f"{d} is not a finished netrx run directory: missing "
                          f"{', '.join(missing)}")
    config = load_config(d / "config.yaml")
    k = read_summary(d)["best_member"] if member is None else int(member)
    stacked = read_weights(d / "weights.safetensors")
    K = next(iter(stacked.values())).shape[0]
    if not 0 <= k < K:
        raise RunDirError(f"member {k} does not exist; the run in {d} has {K} members")
    ordered = sorted(stacked.items(), key=lambda kv: natural_order(kv[0]))
    state = {n: v[k].clone() for n, v in ordered}
    return Source(d, state, config, k)
