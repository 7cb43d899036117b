"""netrx: improve deep neural networks with the course's playbook, as software."""

from netrx.errors import ConfigError, DataError, DivergedError, NetrxError
from netrx.population import Population
from netrx.train import fit

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DivergedError",
    "NetrxError",
    "Population",
    "fit",
]
