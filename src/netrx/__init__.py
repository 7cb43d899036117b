"""netrx: improve deep neural networks with the course's playbook, as software."""

from netrx.errors import ConfigError, DataError, DivergedError, NetrxError
from netrx.population.population import Population
from netrx.train import fit

__version__ = "0.1.0"

_LAZY = {  # imported on first use, so that `import netrx` does not load scikit-learn
    "NetClassifier": "netrx.estimators",
    "NetRegressor": "netrx.estimators",
    "load": "netrx.experiment.predictor",
    "improve": "netrx.recipe.plan",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'netrx' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DataError",
    "DivergedError",
    "NetClassifier",
    "NetRegressor",
    "NetrxError",
    "Population",
    "fit",
    "improve",
    "load",
]
