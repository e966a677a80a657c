"""Infer a tensor's role (dense/conv/embedding/norm/bias/other) and a model's kernel layout."""
from __future__ import annotations

import re
from typing import Iterable

from ..types import Layout, Role

_SPLIT = re.compile(r"[./]")
_NORM = re.compile(r"(^|_)(norm|ln|layernorm|layer_norm|batchnorm|batch_norm|bn|rmsnorm|groupnorm|gn)(_|\d|$)")
_EMBED = re.compile(r"embed|wte|wpe|token|tok_|position|shared")
_NORM_LEAVES = {"scale", "gamma", "beta", "running_mean", "running_var", "mean", "var",
                "num_batches_tracked", "moving_mean", "moving_variance"}


def _parts(name: str) -> list[str]:
    return [p.lower() for p in _SPLIT.split(name) if p]


def infer_role(name: str, shape: tuple[int, ...], dtype: str) -> Role:
    if not (dtype.startswith(("float", "bfloat")) and len(shape) >= 1 and 0 not in shape):
        return "other"  # integer/bool buffers, scalars and empty tensors have no unit structure
    parts = _parts(name) or [""]
    leaf, owners = parts[-1], parts[:-1]
    is_norm = any(_NORM.search(p) for p in owners) or leaf in _NORM_LEAVES
    if len(shape) == 1:
        if is_norm:
            return "norm"
        return "bias" if leaf in {"bias", "b", "beta"} or leaf.endswith("bias") else "other"
    if is_norm:
        return "norm"
    if len(shape) == 2:
        return "embedding" if leaf == "embedding" or any(_EMBED.search(p) for p in parts) else "dense"
    # Flax DenseGeneral kernels are 3-D ([in, heads, head_dim]); real conv kernels are named so
    # or are 4-D/5-D.
    if len(shape) == 3 and not any("conv" in p for p in parts):
        return "dense"
    return "conv"


def infer_layout(names: Iterable[str], default: Layout) -> Layout:
    """PyTorch names end in `.weight`; Flax names end in `kernel`/`embedding`/`scale`."""
    torch_votes = flax_votes = 0
    for name in names:
        leaf = (_parts(name) or [""])[-1]
        torch_votes += leaf in {"weight", "running_mean", "running_var"}
        flax_votes += leaf in {"kernel", "embedding", "scale"}
    if torch_votes == flax_votes:
        return default
    return "pytorch" if torch_votes > flax_votes else "flax"


# Hugging Face's GPT-2 family stores its projections as `Conv1D` modules: `.weight` names, but
# (in, out) kernels, the transpose of nn.Linear's.
_CONV1D = re.compile(r"(^|[./])(c_attn|q_attn|c_proj|c_fc)[./]weight$")
CONV1D_NOTE = "GPT-2 Conv1D kernel: stored (in, out) despite its PyTorch name, and read so."


def is_conv1d_kernel(name: str, shape: tuple[int, ...]) -> bool:
    return len(shape) == 2 and bool(_CONV1D.search(name))
