"""Train / dev / test splits: seeded, deterministic, stratified for classification.

Train is what the network learns from, dev is what choices (hyperparameters, early
stopping, the bias / variance verdict) are made on, and test is looked at once, at the
end. A dataset that comes with its own test split keeps it; dev is then carved from train.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from netrx.data.sources import Dataset, validate
from netrx.errors import ConfigError, DataError


@dataclass
class Split:
    """One part of a dataset: features X [n, *input_shape] and labels y [n]."""

    X: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Splits:
    """Train, dev and test parts; dev / test are empty only when their fraction is 0."""

    train: Split
    dev: Split
    test: Split


def split(ds: Dataset, *, dev: float = 0.2, test: float = 0.2, seed: int = 0) -> Splits:
    """Split ``ds`` into train / dev / test.

    A part with fraction f > 0 gets max(1, round(f·n)) examples. Classification splits
    are stratified: class c with n_c examples puts floor(f·n_c) or floor(f·n_c) + 1 of
    them in each part, so every part's class proportions match the whole to within one
    example. If the dataset has its own test split, it is the test set, ``dev`` is a
    fraction of the training examples and ``test`` is ignored.
    """
    own_test = ds.X_test is not None and ds.y_test is not None
    _check_fraction("dev", dev)
    if not own_test:
        _check_fraction("test", test)
        if dev + test >= 1:
            raise ConfigError(
                f"dev + test must be below 1 to leave training data, got {dev} + {test}"
            )
    validate(ds)
    fractions = [dev] if own_test else [test, dev]
    rng = np.random.default_rng(seed)
    y = ds.y if ds.task == "classification" else None
    train, *held = _partition(len(ds.y), fractions, y, ds.classes, rng)

    def part(index: np.ndarray) -> Split:
        return Split(ds.X[index], ds.y[index])

    if own_test:
        assert ds.X_test is not None and ds.y_test is not None
        return Splits(part(train), part(held[0]), Split(ds.X_test, ds.y_test))
    return Splits(part(train), part(held[1]), part(held[0]))


def _check_fraction(name: str, f: float) -> None:
    if not 0 <= f < 1:
        raise ConfigError(f"{name} fraction must be in [0, 1), got {f!r}")


def _sizes(n: int, fractions: list[float]) -> list[int]:
    sizes = [max(1, int(np.floor(f * n + 0.5))) if f > 0 else 0 for f in fractions]
    if n - sum(sizes) < 1:
        raise DataError(
            f"{n} examples are too few to split off {' + '.join(map(str, sizes))} "
            "for dev / test and still train; lower the fractions or add data"
        )
    return sizes


def _partition(
    n: int,
    fractions: list[float],
    y: np.ndarray | None,
    classes: tuple[str, ...],
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Index arrays [train, part for fractions[0], part for fractions[1], ...]."""
    sizes = _sizes(n, fractions)
    if y is not None:
        alloc = _stratify(y, fractions, sizes, classes, rng)
        if alloc is not None:
            parts: list[list[np.ndarray]] = [[] for _ in range(len(sizes) + 1)]
            for c, members in enumerate(_members(y, alloc.shape[1])):
                members = rng.permutation(members)
                bounds = np.cumsum(alloc[:, c])
                for p, chunk in enumerate(np.split(members, bounds)):
                    # chunks: held-out parts first, the rest is train
                    parts[(p + 1) % len(parts)].append(chunk)
            return [rng.permutation(np.concatenate(p)).astype(np.int64) for p in parts]
    order = rng.permutation(n)
    return np.split(order, np.cumsum([n - sum(sizes), *sizes[:-1]]))


def _members(y: np.ndarray, n_classes: int) -> list[np.ndarray]:
    order = np.argsort(y, kind="stable")
    return np.split(order, np.cumsum(np.bincount(y, minlength=n_classes))[:-1])


def _stratify(
    y: np.ndarray,
    fractions: list[float],
    sizes: list[int],
    classes: tuple[str, ...],
    rng: np.random.Generator,
) -> np.ndarray | None:
    """alloc[p, c]: how many examples of class c go to held-out part p.

    alloc[p, c] = floor(f_p · n_c), plus 1 for the classes with the largest remainders
    f_p · n_c − floor(f_p · n_c) until the part has its size; classes that would otherwise
    lose their last training example are served last. None if that cannot be done.
    """
    counts = np.bincount(y, minlength=max(len(classes), int(y.max()) + 1))
    n_parts = 1 + sum(s > 0 for s in sizes)
    rare = [
        classes[c] if c < len(classes) else str(c)
        for c in np.flatnonzero(counts)
        if counts[c] < n_parts
    ]
    if rare:
        warnings.warn(
            f"classes {rare[:10]} have fewer than {n_parts} examples and cannot appear in "
            "every split",
            stacklevel=4,
        )
    alloc = np.zeros((len(sizes), len(counts)), dtype=np.int64)
    for p, (f, size) in enumerate(zip(fractions, sizes, strict=True)):
        quota = f * counts
        alloc[p] = np.floor(quota)
        left = counts - alloc.sum(axis=0)
        extra = max(0, size - int(alloc[p].sum()))
        keeps_train = left >= 2
        order = np.lexsort((rng.random(len(counts)), -(quota - alloc[p]), ~keeps_train))
        chosen = [c for c in order if left[c] >= 1][:extra]
        if len(chosen) < extra:
            warnings.warn(
                "stratified split impossible for these class counts; splitting by plain "
                "shuffling instead",
                stacklevel=4,
            )
            return None
        alloc[p, chosen] += 1
    return alloc
