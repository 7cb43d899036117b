"""Data: sources (built-ins, CSV, NPZ), train/dev/test splits, normalisation."""

from netrx.data.normalize import Preprocessor, Standardizer
from netrx.data.sources import Dataset, builtin_names, describe_builtins, load
from netrx.data.split import Split, Splits, split

__all__ = [
    "Dataset",
    "Preprocessor",
    "Split",
    "Splits",
    "Standardizer",
    "builtin_names",
    "describe_builtins",
    "load",
    "split",
]
