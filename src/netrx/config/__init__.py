"""The run configuration.

- :mod:`~netrx.config.schema`: the sections (pydantic models) and :class:`RunConfig`;
- :mod:`~netrx.config.keys`: dotted paths, ``FLAT_KEYS`` (the flat names of ``netrx
  train``'s options and the estimators' parameters), ``MEMBER_KEYS``, member-wise values;
- :mod:`~netrx.config.parse`: dict / YAML → RunConfig with one error formatter.
"""

from netrx.config.keys import (
    FLAT_KEYS,
    MEMBER_KEYS,
    MemberValue,
    flat_overrides,
    get_path,
    member_values,
    merge,
    set_path,
)
from netrx.config.parse import load_config, load_yaml, parse_config, to_yaml
from netrx.config.schema import (
    DEFAULT_LR,
    AugmentConfig,
    DataConfig,
    EarlyStoppingConfig,
    EnsembleConfig,
    ModelConfig,
    OptimizerConfig,
    PlateauConfig,
    RegularizationConfig,
    RunConfig,
    TrainConfig,
    TransferConfig,
)

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "DEFAULT_LR",
    "EarlyStoppingConfig",
    "EnsembleConfig",
    "FLAT_KEYS",
    "flat_overrides",
    "get_path",
    "load_config",
    "load_yaml",
    "MEMBER_KEYS",
    "member_values",
    "MemberValue",
    "merge",
    "ModelConfig",
    "OptimizerConfig",
    "parse_config",
    "PlateauConfig",
    "RegularizationConfig",
    "RunConfig",
    "set_path",
    "to_yaml",
    "TrainConfig",
    "TransferConfig",
]
