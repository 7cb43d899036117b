"""Model builders, member-wise layers and initialisation rules."""

from netrx.nn.builders import ACTIVATIONS, FAMILIES, build, cnn1d, cnn2d, mlp
from netrx.nn.init import INITS, init_weight_
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

FAMILIES.update(resnet1d=resnet1d, resnet2d=resnet2d)

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
