"""A learning-rate range test (Smith 2017; fastai's ``lr_find``), done as a population.

Smith's test raises α exponentially during one short run and plots the loss against α.
netrx runs the same exponential grid side by side instead: K members, member k at the
constant rate

    α_k = α_lo·(α_hi/α_lo)^(k/(K−1)),   k = 0 … K−1,

all from one initialisation (one seed: the curve then shows α alone, not the luck of the
draw) and on the same mini-batches, for a short fit (``steps`` updates). The curve is the
training loss L(α_k) after those steps. Rates past the edge of stability diverge (loss
NaN / inf, or above the loss at the start): the right end of the curve.

Suggested α: α* = α_min / 3, α_min = argmin_k L(α_k). The fastest rate for a short fit
is near the edge of stability; a full fit takes many more steps and is safer a little
below it (a factor 3, one third of a decade on the log axis; fastai's increasing-rate
test uses α_min / 10 because its minimum lags behind the rate that caused it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netrx.errors import ConfigError

#: the grid's default range and size
LO, HI, MEMBERS, STEPS = 1e-6, 1.0, 24, 100


@dataclass
class LrFind:
    """The range test's grid, the loss after the fit per rate (NaN where it diverged),
    the loss at the start, the suggestion and the rule behind it."""

    lrs: list[float]
    losses: list[float]
    initial_loss: float
    suggestion: float | None
    rule: str
    steps: int
    curves: list[list[float]] = field(default_factory=list)  # per epoch, per member

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {"lrs": self.lrs, "losses": [clean(v) for v in self.losses],
                "initial_loss": clean(self.initial_loss), "suggestion": self.suggestion,
                "rule": self.rule, "steps": self.steps,
                "curves": [[clean(v) for v in row] for row in self.curves]}


def grid(lo: float = LO, hi: float = HI, members: int = MEMBERS) -> list[float]:
    """α_k = α_lo·(α_hi/α_lo)^(k/(K−1)) for k = 0 … K−1."""
    if not 0 < lo < hi:
        raise ConfigError(f"the range needs 0 < lo < hi, got lo={lo!r}, hi={hi!r}")
    if int(members) < 3:
        raise ConfigError(f"members={members!r}: a range test needs at least 3 rates")
    return [float(v) for v in np.geomspace(lo, hi, int(members))]


def suggest(lrs: list[float], losses: list[float], initial: float) -> tuple[float | None, str]:
    """α* = α_min / 3 over the rates whose loss is finite and below the starting loss."""
    ok = [(lr, v) for lr, v in zip(lrs, losses) if math.isfinite(v) and v < initial]
    if not ok:
        return None, ("no rate lowered the loss within the steps: try more steps or a "
                      "lower range")
    lr_min, loss_min = min(ok, key=lambda p: p[1])
    if lr_min == lrs[-1]:
        return lr_min / 3, (f"the loss was lowest at the top of the range (α={lr_min:.3g}): "
                            "α_min / 3; widen the range upwards to find the edge")
    return lr_min / 3, f"α_min / 3, α_min = {lr_min:.3g} (loss {loss_min:.4g})"


def lr_find(cfg: Any, prepared: Any, *, lo: float = LO, hi: float = HI,
            members: int = MEMBERS, steps: int = STEPS, seconds: float = 300.0) -> LrFind:
    """Run the range test of ``cfg``'s model, optimizer and regularization on
    ``prepared``'s training split (no dev, no test): ``members`` rates on ``grid(lo, hi)``,
    ``steps`` updates (whole epochs, at least one), one seed. See the module docstring."""
    from netrx.config import parse_config
    from netrx.experiment.assemble import train
    from netrx.experiment.evaluate import as_tensors
    from netrx.train import evaluate
    from netrx.train.deadline import Budget, Deadline

    lrs = grid(lo, hi, members)
    n = len(prepared.splits.train.y)
    batch = min(cfg.train.batch_size, n)
    per_epoch = -(-n // batch)
    epochs = max(1, -(-int(steps) // per_epoch))
    data = cfg.model_dump(mode="json")
    data.update(members=len(lrs))
    data["optimizer"]["lr"] = lrs
    data["optimizer"].pop("schedule", None)
    data["train"].update(epochs=epochs, early_stopping=None, reduce_lr_on_plateau=None,
                         ensemble=None)
    run_cfg = parse_config(data)
    from netrx.experiment.assemble import assemble

    pieces = assemble(run_cfg, prepared)
    pop = pieces.population
    # one initialisation for every member: the curve shows α, not the draw
    with_member0 = {k: v[:1].expand_as(v).clone() for k, v in pop.stacked_state().items()}
    pop.load_stacked_state(with_member0)
    for k in range(pop.members):  # and one seed: the same mini-batches and dropout masks
        pop.seeds[k] = pop.seeds[0]
        pop.streams.reset(k, pop.seeds[0])
    X, y = as_tensors(prepared.splits.train, pop, prepared)
    start = float(evaluate(pop, X, y, prepared.objective)[0][0])
    import dataclasses

    no_dev = dataclasses.replace(prepared, splits=dataclasses.replace(
        prepared.splits, dev=dataclasses.replace(prepared.splits.dev,
                                                 X=prepared.splits.dev.X[:0],
                                                 y=prepared.splits.dev.y[:0])))
    _, history = train(run_cfg, no_dev, pieces=pieces, callbacks=[Deadline(Budget(seconds))])
    loss, _ = evaluate(pop, X, y, prepared.objective)
    losses = [float(v) if not bool(pop.diverged[k]) else float("nan")
              for k, v in enumerate(loss.double().cpu().numpy())]
    suggestion, rule = suggest(lrs, losses, start)
    curves = history.metric("train_loss").tolist()
    return LrFind(lrs, losses, start, suggestion, rule, len(history.logs) * per_epoch, curves)
