"""The two model families of the reference entrypoint and their JSON description.

``model.json`` in the model directory holds :func:`describe`'s output, so a user can rebuild the
network with :func:`build_from_description` and load ``model.pt`` into it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn")


def choose_architecture(requested: str, input_shape: Sequence[int]) -> str:
    """``auto`` picks the MLP for ``(D,)`` examples and the CNN for ``(C, H, W)`` images."""
    if requested == "auto":
        return "cnn" if len(input_shape) == 3 else "mlp"
    if requested == "cnn" and len(input_shape) != 3:
        raise ValueError(
            f"model=cnn needs image data (N x C x H x W); these examples have shape "
            f"{tuple(input_shape)}: use model=mlp or auto"
        )
    if requested not in ARCHITECTURES:
        raise ValueError(f"unknown model {requested!r}")
    return requested


def build_mlp(input_shape: Sequence[int], num_classes: int, hidden_sizes: Sequence[int]) -> nn.Module:
    """Flatten, then Linear-ReLU per hidden size, then a linear head."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = 1
    for d in input_shape:
        width *= int(d)
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), nn.ReLU(inplace=True)]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_cnn(input_shape: Sequence[int], num_classes: int, channels: Sequence[int]) -> nn.Module:
    """Blocks of conv3x3 (no bias: BatchNorm follows) - BatchNorm - ReLU - maxpool 2x2, then
    global average pooling and a linear head. Pooling stops once the feature map is 1 pixel wide,
    so deep stacks also fit small images."""
    in_channels, height, width = (int(d) for d in input_shape)
    layers: list[nn.Module] = []
    for out_channels in channels:
        layers += [
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        if height >= 2 and width >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        in_channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)]
    return nn.Sequential(*layers)


def describe(
    architecture: str,
    input_shape: Sequence[int],
    num_classes: int,
    hidden_sizes: Sequence[int],
    conv_channels: Sequence[int],
) -> dict[str, Any]:
    """The architecture part of ``model.json``."""
    return {
        "architecture": architecture,
        "input_shape": [int(d) for d in input_shape],
        "num_classes": int(num_classes),
        "classes": list(range(int(num_classes))),
        "hidden_sizes": [int(s) for s in hidden_sizes] if architecture == "mlp" else None,
        "conv_channels": [int(c) for c in conv_channels] if architecture == "cnn" else None,
    }


def build_from_description(description: dict[str, Any]) -> nn.Module:
    """Rebuild the (untrained) network that ``describe`` describes."""
    arch = description["architecture"]
    shape = description["input_shape"]
    classes = description["num_classes"]
    if arch == "mlp":
        return build_mlp(shape, classes, description["hidden_sizes"])
    if arch == "cnn":
        return build_cnn(shape, classes, description["conv_channels"])
    raise ValueError(f"unknown architecture {arch!r}")


def load_trained(model_dir: Path, map_location: str = "cpu") -> nn.Module:
    """Load a trained model from a model directory (``model.json`` + ``model.pt``), for users."""
    description = json.loads((model_dir / "model.json").read_text())
    model = build_from_description(description)
    state = torch.load(model_dir / "model.pt", map_location=map_location, weights_only=True)
    model.load_state_dict(state)
    return model.eval()
