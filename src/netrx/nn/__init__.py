"""Model builders, member-wise layers and initialisation rules."""

from netrx.nn.builders import build, cnn1d, cnn2d, mlp
from netrx.nn.init import init_weight_
from netrx.nn.layers import (
    AddChannel,
    BatchNorm,
    Conv1d,
    Conv2d,
    DropConnect,
    Dropout,
    InputDropout,
    Linear,
)
from netrx.nn.resnet import resnet1d, resnet2d
from netrx.registry import ACTIVATIONS, FAMILIES, INITS

__all__ = [
    "ACTIVATIONS",
    "AddChannel",
    "BatchNorm",
    "Conv1d",
    "Conv2d",
    "DropConnect",
    "Dropout",
    "FAMILIES",
    "INITS",
    "InputDropout",
    "Linear",
    "build",
    "cnn1d",
    "cnn2d",
    "init_weight_",
    "mlp",
    "resnet1d",
    "resnet2d",
]
