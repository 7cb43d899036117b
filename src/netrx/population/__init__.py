"""The population engine: K networks of one architecture trained as one.

- :mod:`~netrx.population.population`: :class:`Population`, parameters stored as one flat
  [K, P] tensor, forward through ``vmap(functional_call)`` (a bound module at K = 1);
- :mod:`~netrx.population.batched`: the fast routes (batched matmuls for Linear layers);
- :mod:`~netrx.population.streams`: every member's own random stream (seed, step counter),
  from which dropout, DropConnect and augmentation draw;
- :mod:`~netrx.population.device`: ``auto | cpu | cuda``.
"""

from netrx.population.device import resolve_device
from netrx.population.population import Population, member_seeds, reinitialize

__all__ = ["Population", "member_seeds", "reinitialize", "resolve_device"]
