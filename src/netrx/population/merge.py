"""Populations of one architecture joined into one: members of separate fits (e.g. the
final step's successive batches of seeds) become one ensemble with one run directory."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from netrx.errors import ConfigError
from netrx.population.population import Population


@torch.no_grad()
def concat(pops: Sequence[Population]) -> Population:
    """One population whose members are ``pops[0]``'s, then ``pops[1]``'s, …: the same
    parameters, buffers, seeds and stopped / diverged flags, on ``pops[0]``'s device."""
    if not pops:
        raise ConfigError("concat needs at least one population")
    if len(pops) == 1:
        return pops[0]
    first = pops[0]
    if any(p.shapes != first.shapes for p in pops[1:]):
        raise ConfigError("only populations of one architecture can be joined")
    module = copy.deepcopy(first.template).to_empty(device="cpu")
    seeds = [s for p in pops for s in p.seeds]
    out = Population(module, len(seeds), seed=seeds, device=first.device, dtype=first.dtype,
                     reinit=False)
    states = [p.stacked_state() for p in pops]
    out.load_stacked_state({n: torch.cat([s[n].to(out.device) for s in states])
                            for n in states[0]})
    out.stopped.copy_(torch.cat([p.stopped.to(out.device) for p in pops]))
    out.diverged.copy_(torch.cat([p.diverged.to(out.device) for p in pops]))
    return out
