"""Keras weights with h5py alone: Keras 3 `.weights.h5` and legacy `.h5` model/weight files.

Keras keeps kernels (in, out) and HWIO, Flax's layout. Keras 3 numbers each layer's variables
(`layers/dense/vars/0`); they are named from the layer's kind (`kernel`, `bias`, `gamma`, ...)
where it is recognisable and keep their number otherwise. Optimizer state is skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import Layout, ModelWeights
from .common import build_weights, display_name
from .extras import require

# Keras 3 variable order per layer kind (keras.layers.*.build), matched on the layer's name.
_VAR_NAMES = (
    (re.compile(r"batch_norm|batchnorm"), ("gamma", "beta", "moving_mean", "moving_variance")),
    (re.compile(r"layer_norm|layernorm|group_norm|rms_norm"), ("gamma", "beta")),
    (re.compile(r"embedding"), ("embeddings",)),
    (re.compile(r"depthwise"), ("depthwise_kernel", "bias")),
    (re.compile(r"separable"), ("depthwise_kernel", "pointwise_kernel", "bias")),
    (re.compile(r"conv|dense"), ("kernel", "bias")),
)
_SKIP = ("optimizer", "optimizer_weights")


def _keras3_name(path: str) -> str:
    """`layers/conv2d/vars/0` -> `layers/conv2d/kernel` when the layer's kind says so."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[-2] == "vars" and parts[-1].isdigit():
        layer, index = parts[-3].lower(), int(parts[-1])
        for pattern, names in _VAR_NAMES:
            if pattern.search(layer) and index < len(names):
                return "/".join(parts[:-2] + [names[index]])
        return "/".join(parts[:-2] + [f"var{index}"])
    return path


def _datasets(h5py, group, prefix: str = ""):
    for key in group:
        item = group[key]
        name = f"{prefix}/{key}" if prefix else key
        if isinstance(item, h5py.Dataset):
            yield name, item
        elif key not in _SKIP:
            yield from _datasets(h5py, item, name)


def load_keras(path: Path, layout: Layout | None) -> ModelWeights:
    h5py = require("h5py", path)
    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({type(exc).__name__}: {str(exc)[:200]})") from None
    # Legacy model files keep the weights under model_weights/ (beside the optimizer's).
    root = f["model_weights"] if "model_weights" in f else f
    legacy = "layer_names" in root.attrs
    entries = []
    for name, ds in _datasets(h5py, root):
        if ds.dtype.kind not in "fiub" or ds.shape is None:
            continue  # strings and empty placeholders are metadata
        shown = name.split("/", 1)[-1] if legacy and "/" in name else _keras3_name(name)
        shown = shown.removesuffix(":0")
        entries.append((shown, tuple(int(d) for d in ds.shape), np.dtype(ds.dtype).name,
                        lambda p=name: np.asarray(root[p])))
    if not entries:
        f.close()
        raise InputError(f"{path}: the HDF5 file holds no weight arrays (is it a Keras weights file?)")
    weights = build_weights(source=display_name(path), format="keras-h5" if legacy else "keras",
                            default_layout="flax", layout=layout or "flax", files=[path], entries=entries)
    return weights
