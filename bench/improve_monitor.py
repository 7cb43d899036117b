"""improve's early stopping: on the dev error or on the dev loss? (netrx.recipe.steps.
early_stopping_for)

On each table of bench/tabular.py (its fixed train split; netrx's own 20 % holdout of it is
the test set here), for three seeds (three holdouts), the strong default is cross-fit as
improve's final step does (5 folds of train ∪ dev × 8 seeds, each member early-stopped on
its fold), once with early stopping on ``dev_error`` and once on ``dev_loss``, on the same
folds and seeds. Printed per table and seed: the test error of the cross-fit ensemble and
of the mean member, then the means.

    python bench/improve_monitor.py [--tables wine,breast_cancer,penguins] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tabular import PEER_PYTHON, PEERS, ensure_peer_env  # noqa: E402

from netrx.ensemble import average_outputs, ensemble_error  # noqa: E402
from netrx.experiment import prepare  # noqa: E402
from netrx.experiment.evaluate import as_tensors  # noqa: E402
from netrx.recipe.defaults import strong_default  # noqa: E402
from netrx.recipe.estimate import folds  # noqa: E402
from netrx.recipe.plan import base_config  # noqa: E402
from netrx.recipe.steps import patience_for, single_config, train_population  # noqa: E402
from netrx.train import evaluate  # noqa: E402
from netrx.train.deadline import Budget  # noqa: E402

MONITORS = ("dev_error", "dev_loss")
K, FOLDS = 8, 5


def crossfit(prep, sd, monitor: str, seed: int) -> tuple[float, float]:
    """(ensemble test error, mean member test error) of a cross-fit of ``sd``."""
    probs, members = [], []
    for f, part in enumerate(folds(prep, FOLDS, seed)):
        cfg = single_config(sd, **{"members": K, "seed": 100 + K * f + 1000 * seed,
                                   "train.early_stopping": {
                                       "patience": patience_for(sd.train.epochs),
                                       "monitor": monitor}})
        pop, _, _ = train_population(cfg, part, Budget(3600))
        Xt, yt = as_tensors(prep.splits.test, pop, prep)
        with torch.no_grad():
            probs.append(average_outputs(pop, Xt, prep.objective, list(range(K))))
            members.append(float(evaluate(pop, Xt, yt, prep.objective)[1].mean()))
    return float(ensemble_error(sum(probs) / len(probs), yt, prep.objective)), \
        float(np.mean(members))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default="wine,breast_cancer,penguins")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ensure_peer_env()
    names = [t for t in args.tables.split(",") if t]
    data = Path(tempfile.mkdtemp(prefix="netrx-monitor-"))
    subprocess.run([str(PEER_PYTHON), str(PEERS / "tables.py"), str(data), "--tables",
                    ",".join(names)], check=True)
    print(f"{'table':15s} seed  rows  " + "  ".join(f"{m + ' ens/member':>22s}"
                                                   for m in MONITORS))
    totals = {m: [] for m in MONITORS}
    for name in names:
        info = json.loads((data / name / "table.json").read_text())
        if info["task"] != "classification":
            continue
        for seed in range(args.seeds):
            cfg0 = base_config(str(data / name / "train.csv"), target=info["target"],
                               seed=seed, device="cpu", data={"impute": "median"})
            prep = prepare(cfg0)
            sd = strong_default(cfg0, family="mlp", task=prep.task,
                                n_train=len(prep.splits.train.y), table=True)
            got = {m: crossfit(prep, sd, m, seed) for m in MONITORS}
            for m in MONITORS:
                totals[m].append(got[m])
            print(f"{name:15s} {seed:4d} {len(prep.splits.test.y):5d}  " + "  ".join(
                f"{got[m][0]:10.4f} / {got[m][1]:.4f}" for m in MONITORS), flush=True)
    print("mean" + " " * 23 + "  ".join(
        f"{np.mean([e for e, _ in totals[m]]):10.4f} / {np.mean([s for _, s in totals[m]]):.4f}"
        for m in MONITORS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
