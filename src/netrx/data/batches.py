"""Mini-batches that are reshuffled every epoch, independently for every member."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from netrx.errors import ConfigError


class MiniBatches:
    """Index batches [K, B] over ``n`` examples: each epoch every member k draws its own
    permutation from a generator seeded with ``seeds[k]``, then takes consecutive slices
    of ``batch_size`` (the last one may be smaller). The generators live on the CPU, so
    the order is the same on every device; one [K, n] index tensor moves to ``device``
    per epoch.
    """

    def __init__(self, n: int, batch_size: int, seeds: Sequence[int],
                 device: torch.device | str = "cpu") -> None:
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size={batch_size!r}: a mini-batch needs at least 1 example")
        if n < 1:
            raise ConfigError("the training set is empty")
        self.n, self.batch_size = int(n), min(int(batch_size), int(n))
        self.device = torch.device(device)
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def epoch(self) -> Iterator[Tensor]:
        perms = torch.stack([torch.randperm(self.n, generator=g) for g in self.generators])
        perms = perms.to(self.device, non_blocking=True)
        return iter(perms.split(self.batch_size, dim=1))

    def state_dict(self) -> dict:
        return {"generators": [g.get_state() for g in self.generators]}

    def load_state_dict(self, state: dict) -> None:
        for g, s in zip(self.generators, state["generators"]):
            g.set_state(s)
