"""The real tables of ``bench/tabular.py``, written to CSV with one fixed train / test split.

Run with the peers' environment (``bench/peers/.venv``), which holds the packages the tables
ship in; every table is read from the package's own files (nothing is downloaded):

    bench/peers/.venv/bin/python bench/peers/tables.py OUT_DIR [--tables penguins,cars] [--seed 0]

writes ``OUT_DIR/<table>/train.csv`` and ``test.csv`` (the table as the package gives it,
rows without a target left out, split 80 / 20 with seed 0 or ``--seed``, stratified for
classification) and
``OUT_DIR/<table>/table.json``: its target column, task, metric, the columns every method
leaves out (``drop``), whether a feature has missing values, sizes and source. Every file is
written under a temporary name and renamed, so that benches running at once (the files are
the same each time) never read a half-written one.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

TEST_FRACTION = 0.2
SEED = 0


@dataclass(frozen=True)
class Table:
    target: str
    task: str  # classification | regression
    source: str
    drop: tuple[str, ...] = ()  # columns no method uses (names of the rows)

    @property
    def metric(self) -> str:
        return "accuracy" if self.task == "classification" else "R2"


def _penguins() -> pd.DataFrame:
    from palmerpenguins import load_penguins

    return load_penguins()


def _cars() -> pd.DataFrame:
    from vega_datasets import local_data

    return local_data.cars()  # the package's own JSON file


def _sklearn(loader: str, target: str, named: bool) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        kwargs = {"scaled": False} if loader == "load_diabetes" else {}
        bunch = getattr(sklearn.datasets, loader)(as_frame=True, **kwargs)
        frame = bunch.frame.rename(columns={"target": target})
        if named:  # class names, as a user's file would hold them
            frame[target] = bunch.target_names[bunch.target.to_numpy()]
        return frame

    return load


TABLES: dict[str, tuple[Table, Callable[[], pd.DataFrame]]] = {
    "penguins": (Table("species", "classification", "palmerpenguins.load_penguins()"),
                 _penguins),
    "cars": (Table("Miles_per_Gallon", "regression", "vega_datasets.local_data.cars()",
                   drop=("Name",)), _cars),
    "breast_cancer": (Table("diagnosis", "classification",
                            "sklearn.datasets.load_breast_cancer()"),
                      _sklearn("load_breast_cancer", "diagnosis", named=True)),
    "wine": (Table("cultivar", "classification", "sklearn.datasets.load_wine()"),
             _sklearn("load_wine", "cultivar", named=True)),
    "diabetes": (Table("progression", "regression",
                       "sklearn.datasets.load_diabetes(scaled=False)"),
                 _sklearn("load_diabetes", "progression", named=False)),
}


def split(frame: pd.DataFrame, table: Table, seed: int = SEED) -> tuple[pd.DataFrame,
                                                                        pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    frame = frame[frame[table.target].notna()].reset_index(drop=True)
    strata = frame[table.target] if table.task == "classification" else None
    return train_test_split(frame, test_size=TEST_FRACTION, random_state=seed, stratify=strata)


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write(out: Path, names: list[str], seed: int = SEED) -> dict[str, dict]:
    manifest = {}
    for name in names:
        table, load = TABLES[name]
        train, test = split(load(), table, seed)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        _atomic(folder / "train.csv", train.to_csv(index=False))
        _atomic(folder / "test.csv", test.to_csv(index=False))
        features = [c for c in train.columns if c != table.target and c not in table.drop]
        missing = bool(pd.concat([train, test])[features].isna().any().any())
        manifest[name] = {**asdict(table), "metric": table.metric, "n_train": len(train),
                          "n_test": len(test), "missing": missing, "split_seed": seed,
                          "columns": list(train.columns)}
        _atomic(folder / "table.json", json.dumps(manifest[name], indent=2))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--tables", default=",".join(TABLES),
                    help=f"comma-separated, from {', '.join(TABLES)}")
    ap.add_argument("--seed", type=int, default=SEED, help="the train / test split's seed")
    args = ap.parse_args()
    names = [t for t in args.tables.split(",") if t]
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        ap.error(f"unknown table(s) {unknown}; choose from {', '.join(TABLES)}")
    for name, info in write(args.out, names, args.seed).items():
        print(f"{name}: {info['n_train']} train / {info['n_test']} test rows, "
              f"target {info['target']!r} ({info['task']})")


if __name__ == "__main__":
    main()
