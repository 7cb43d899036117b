"""When a coarse_to_fine study starts its fine stage, and how it is enqueued.

Once every coarse trial of the study has ended (none RUNNING or WAITING, whichever worker
asked it), one worker narrows the box around the best ⌈q·n⌉ completed coarse trials
(:func:`netrx.tune.coarse_to_fine.narrow`), draws the fine points in it and enqueues them
into the same study, tagged ``netrx:stage = fine``. The box is recorded on the study
(:data:`BOX`), which is also what tells every worker that the fine stage has started.
Two workers that see the coarse stage end at the same moment may both enqueue it; each
point carries its index (``netrx:fine_index``), and only its first copy trains (the
other is told FAIL, over budget, by :class:`~netrx.tune.source.TrialSource`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from netrx.tune.liveness import STAGE
from netrx.tune.samplers import derive_seed
from netrx.tune.settings import TuneConfig
from netrx.tune.source import FINE_INDEX, TrialSource

if TYPE_CHECKING:
    import optuna

BOX = "netrx:box"  # study attr: the narrowed box of coarse_to_fine


def fine_to_come(study: optuna.Study, source: TrialSource) -> bool:
    """Whether this study has a fine stage that has not started yet."""
    return source.c2f and source.n_fine > 0 and BOX not in study.user_attrs


def start_fine(study: optuna.Study, cfg: TuneConfig, source: TrialSource,
               log: Callable[[str], None] = lambda s: None) -> bool:
    """Narrow the box and enqueue the fine stage when every coarse trial has ended (once
    per study; ``log`` gets the box). True when there is new work."""
    from optuna.trial import TrialState

    from netrx.tune.coarse_to_fine import format_box, narrow, sample_box

    if not fine_to_come(study, source):
        return False
    space = cfg.space
    trials = study.get_trials(deepcopy=False)
    coarse = [t for t in trials if t.user_attrs.get(STAGE) != "fine"]
    if any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in coarse):
        return False
    complete = sorted((t for t in coarse if t.state == TrialState.COMPLETE),
                      key=lambda t: t.value)
    s = cfg.search
    top = complete[:max(1, math.ceil(s.q * len(complete)))] if complete else []
    if top:
        fine, box = narrow(space, [space.decode(t.params) for t in top], margin=s.margin)
    else:
        fine, box = space, {p.key: {"scale": p.dist.scale, "unchanged": True} for p in space}
        log("coarse_to_fine: no coarse trial completed; the fine stage searches the whole "
            "space")
    seed = derive_seed(s.seed if s.seed is not None else cfg.run.seed, "fine")
    for i, values in enumerate(sample_box(fine, source.n_fine, seed=seed, fixed=source.fixed,
                                          method=s.coarse_sampler)):
        study.enqueue_trial(space.encode(values), user_attrs={STAGE: "fine", FINE_INDEX: i},
                            skip_if_exists=True)
    record = {"box": box, "top": [t.number for t in top], "q": s.q, "margin": s.margin,
              "coarse_completed": len(complete)}
    study.set_user_attr(BOX, record)
    log(format_box(record))
    return True
