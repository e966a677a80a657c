"""PyTorch state dicts (.pt/.pth/.bin, zip or legacy pickle, single or sharded), weights_only."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..types import Layout, ModelWeights
from .common import build_weights, check_complete, display_name, shard_paths
from .extras import as_numpy, require

# Checkpoints often wrap the state dict: {"state_dict": ...}, {"model": ...}, {"module": ...}.
_WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net", "params")
# torch dtypes numpy lacks, read as raw bits and reinterpreted via ml_dtypes.
_BITS = {"bfloat16": ("int16", "bfloat16"), "float8_e4m3fn": ("uint8", "float8_e4m3fn"),
         "float8_e5m2": ("uint8", "float8_e5m2")}


def _read_state(path: Path) -> dict[str, Any]:
    torch = require("torch", path)
    try:
        # weights_only: the unpickler only builds tensors and plain containers, never calls
        # arbitrary code; mmap (zip format only) keeps the tensors on disk until read.
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:
        detail = _unpickler_detail(str(exc))
        if "Unsupported global" in detail or "Unsupported class" in detail:
            raise InputError(f"{path}: refused: the file holds Python objects other than tensors "
                             f"({detail}); reportgen only unpickles with torch.load(weights_only=True)") from None
        raise InputError(f"{path}: not a readable PyTorch file ({type(exc).__name__}: {detail})") from None
    return _state_dict(obj, torch, path)


def _unpickler_detail(message: str) -> str:
    """The informative line of torch's long weights_only message (which global, which opcode)."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            rest = line.split("WeightsUnpickler error:", 1)[1].strip() or (lines[i + 1] if i + 1 < len(lines) else "")
            return rest.split(" Please use")[0][:200]
    return (lines[0] if lines else "")[:200]


def _state_dict(obj: Any, torch, path: Path) -> dict[str, Any]:
    """Flatten the (possibly wrapped, possibly nested) tensors to {dotted name: tensor}."""
    if isinstance(obj, dict):
        for key in _WRAPPERS:
            if isinstance(obj.get(key), dict) and any(isinstance(v, torch.Tensor) for v in obj[key].values()):
                obj = obj[key]
                break
    out: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, torch.Tensor):
            out[prefix] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{prefix}.{i}" if prefix else str(i))

    walk(obj, "")
    if not out:
        raise InputError(f"{path}: the PyTorch file holds no tensors")
    return out


def _dtype(tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _to_numpy(tensor) -> np.ndarray:
    import torch

    name = _dtype(tensor)
    t = tensor.detach().contiguous()
    if name in _BITS:
        raw, target = _BITS[name]
        return as_numpy(t.view(getattr(torch, raw)).numpy(), target)
    return t.numpy()


def _entries(state: dict[str, Any]):
    for name, tensor in state.items():
        dtype = _dtype(tensor)
        dtype = dtype if dtype in _BITS else _probe(tensor)
        yield name, tuple(int(d) for d in tensor.shape), dtype, (lambda t=tensor: _to_numpy(t))


def _probe(tensor) -> str:
    """numpy's name for a tensor's dtype without copying it (an empty slice converts)."""
    return str(tensor.reshape(-1)[:0].numpy().dtype)


def load_torch(path: Path, layout: Layout | None) -> ModelWeights:
    return build_weights(source=display_name(path), format="pytorch", default_layout="pytorch", layout=layout or "pytorch",
                         files=[path], entries=list(_entries(_read_state(path))))


def load_torch_sharded(index: Path, weight_map: dict[str, str], layout: Layout | None) -> ModelWeights:
    """`pytorch_model.bin.index.json`: each shard is opened (memory-mapped) once, in order."""
    shards = shard_paths(index, weight_map)
    entries = [e for p in shards for e in _entries(_read_state(p))]
    check_complete(index, weight_map, entries)
    return build_weights(source=index.parent.name or str(index.parent), format="pytorch-sharded",
                         default_layout="pytorch", layout=layout or "pytorch", files=shards, entries=entries)
