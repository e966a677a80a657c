"""Load any supported weights source into a lazy `ModelWeights`; the format is read from content."""
from __future__ import annotations

import importlib
import os
import zipfile
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..types import Layout, ModelWeights
from .pytree_io import is_orbax_dir, load_orbax, load_pytree
from .safetensors_io import find_index, load_safetensors, load_sharded, looks_like_safetensors

_HDF5 = b"\x89HDF\r\n\x1a\n"
# Format (as `detect` names it) -> (module, loader function) for single weight files.
_FILE_LOADERS = {
    "safetensors": (".safetensors_io", "load_safetensors"), "npz": (".npz_io", "load_npz"),
    "flax-msgpack": (".pytree_io", "load_msgpack"), "pytorch": (".torch_io", "load_torch"),
    "keras": (".keras_io", "load_keras"), "onnx": (".onnx_io", "load_onnx"),
}


def load(source: Any, layout: Layout | None = None) -> ModelWeights:
    """A path (file or directory) or a live pytree -> ModelWeights. Raises InputError."""
    if not isinstance(source, (str, os.PathLike)):
        return load_pytree(source, layout)
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        return _load_dir(path, layout)
    if path.name.endswith(".index.json"):
        return load_sharded(path, layout)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    kind = detect(path, head)
    if kind in _FILE_LOADERS:
        module, name = _FILE_LOADERS[kind]
        # The optional formats' modules import their library (torch, onnx, h5py) only when used.
        return getattr(importlib.import_module(module, __package__), name)(path, layout)
    raise InputError(
        f"{path}: unknown weights format (expected safetensors, Flax msgpack, .npz, an Orbax directory, a "
        "PyTorch state dict, ONNX or Keras .h5)")


def detect(path: Path, head: bytes) -> str:
    """Name the format from the first bytes; the extension only breaks ties."""
    if looks_like_safetensors(head, path.stat().st_size):
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(path).namelist()
        except zipfile.BadZipFile:
            return "unknown"
        if any(n.endswith("data.pkl") for n in names):
            return "pytorch"
        return "npz" if any(n.endswith(".npy") for n in names) else "unknown"
    if head.startswith(_HDF5):
        return "keras"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pytorch"  # a legacy (non-zip) torch.save pickle
    if head[:1] and (0x81 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)):
        return "flax-msgpack"  # a msgpack map: what flax.serialization.to_bytes writes
    # ONNX is a bare protobuf: no magic. ModelProto starts with ir_version (field 1, varint)
    # followed by another field's tag; the extension settles the rest.
    if path.suffix.lower() == ".onnx" or (len(head) > 2 and head[0] == 0x08 and 1 <= head[1] <= 30
                                          and head[2] in (0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42)):
        return "onnx"
    return "unknown"


def _load_dir(path: Path, layout: Layout | None) -> ModelWeights:
    index = find_index(path)
    if index is not None:
        return load_sharded(index, layout)
    if is_orbax_dir(path):
        return load_orbax(path, layout)
    # A CheckpointManager step directory holds the checkpoint one level down (e.g. 0/default).
    subdirs = [p for p in sorted(path.iterdir()) if is_orbax_dir(p)]
    if len(subdirs) == 1:
        return load_orbax(subdirs[0], layout)
    single = sorted(path.glob("*.safetensors"))
    if len(single) == 1:
        return load_safetensors(single[0], layout)
    raise InputError(
        f"{path}: directory is neither an Orbax checkpoint nor a sharded safetensors set "
        "(no *.safetensors.index.json)")


__all__ = ["load", "detect"]
