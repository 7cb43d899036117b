"""netrx: improve deep neural networks with the course's playbook, as software."""

from netrx.errors import ConfigError, DataError, DivergedError, NetrxError

__version__ = "0.1.0"

_LAZY = {  # imported on first use: `import netrx` (and `netrx --help`) loads no torch
    "Population": "netrx.population",
    "fit": "netrx.train",
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
