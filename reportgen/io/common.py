"""Helpers every loader shares: hashing, size on disk and building TensorRecords."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputError
from ..types import Layout, ModelWeights, TensorRecord
from .roles import CONV1D_NOTE, infer_layout, infer_role, is_conv1d_kernel

_CHUNK = 1 << 22


def sha256_files(paths: Sequence[Path]) -> str:
    """sha256 of one file, or of the concatenated (relative name, digest) list for several."""
    if len(paths) == 1:
        return _sha256_file(paths[0])
    root = Path(*_common_parts(paths))
    outer = hashlib.sha256()
    for p in sorted(paths):
        outer.update(f"{p.relative_to(root)}\0{_sha256_file(p)}\n".encode())
    return outer.hexdigest()


def _common_parts(paths: Sequence[Path]) -> tuple[str, ...]:
    parts = [p.parent.parts for p in paths]
    common = []
    for items in zip(*parts):
        if len(set(items)) != 1:
            break
        common.append(items[0])
    return tuple(common)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def display_name(path: Path) -> str:
    """`folder/file`: enough to tell files apart without leaking the reader's directory tree."""
    resolved = path.resolve()
    return f"{resolved.parent.name}/{resolved.name}" if resolved.parent.name else resolved.name


def read_weight_map(index: Path) -> dict[str, str]:
    """The `weight_map` of a sharded checkpoint's index JSON ({tensor name: shard file})."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        assert isinstance(weight_map, dict)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise InputError(f"{index}: not a checkpoint index (needs a JSON 'weight_map')") from None
    return weight_map


def shard_paths(index: Path, weight_map: dict[str, str]) -> list[Path]:
    """The shard files in first-use order; each must exist inside the index's directory."""
    root = index.parent.resolve()
    shards: list[Path] = []
    for shard in dict.fromkeys(weight_map.values()):
        p = (root / str(shard)).resolve()
        if root not in p.parents:
            raise InputError(f"{index}: shard {shard!r} lies outside the checkpoint directory")
        if not p.is_file():
            raise InputError(f"{index}: shard {shard!r} is missing")
        shards.append(p)
    return shards


def check_complete(index: Path, weight_map: dict[str, str], entries: Sequence[tuple]) -> None:
    missing = set(weight_map) - {e[0] for e in entries}
    if missing:
        raise InputError(f"{index}: tensor {sorted(missing)[0]!r} is not in its shard")


def dtype_name(dtype: np.dtype) -> str:
    return np.dtype(dtype).name


def build_weights(
    *,
    source: str,
    format: str,
    default_layout: Layout,
    layout: Layout | None,
    files: Sequence[Path],
    entries: Iterable[tuple],
    sha256: str | None = None,
) -> ModelWeights:
    """Turn (name, shape, dtype, reader[, note]) entries into a ModelWeights with roles and layout."""
    entries = list(entries)
    chosen: Layout = layout or infer_layout((e[0] for e in entries), default_layout)
    tensors = []
    for n, s, d, r, *rest in entries:
        shape, note, own = tuple(int(x) for x in s), rest[0] if rest else "", chosen
        if layout is None and chosen == "pytorch" and is_conv1d_kernel(n, shape):
            own, note = "flax", "; ".join(filter(None, (note, CONV1D_NOTE)))
        tensors.append(TensorRecord(name=n, shape=shape, dtype=d, role=infer_role(n, shape, d), layout=own,
                                    reader=r, note=note))
    return ModelWeights(
        source=source,
        format=format,
        layout=chosen,
        sha256=sha256 if sha256 is not None else sha256_files(files),
        size_bytes=sum(p.stat().st_size for p in files),
        tensors=tuple(tensors),
    )
