"""safetensors loader (single file or a sharded set with its index), memory-mapped per tensor.

The header is parsed and validated here rather than through `safe_open`: its numpy backend
cannot return bfloat16/float8, and a release file is untrusted input whose byte ranges must be
checked before anything is mapped.
"""
from __future__ import annotations

import json
import struct
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import Layout, ModelWeights, numpy_dtype
from .common import build_weights, check_complete, display_name, read_weight_map, shard_paths

_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
}
_MAX_HEADER = 100 * 1024 * 1024


def looks_like_safetensors(head: bytes, file_size: int) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= min(file_size - 8, _MAX_HEADER) and head[8:9] == b"{"


class _Pairs(list):
    """A JSON object as its (key, value) pairs, duplicates included."""


def read_header(path: Path) -> tuple[list[tuple[str, tuple[int, ...], str, int, int]], int]:
    """Return [(name, shape, dtype, begin, end)] with absolute byte offsets, after validation."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise InputError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (n,) = struct.unpack("<Q", raw)
        if n > min(size - 8, _MAX_HEADER):
            raise InputError(f"{path}: corrupt safetensors header (claims {n} bytes, file has {size})")
        try:
            # Pairs, not a dict: a header that names a tensor twice keeps both (reported, not lost).
            header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=_Pairs)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: corrupt safetensors header ({exc})") from None
    if not isinstance(header, _Pairs):
        raise InputError(f"{path}: corrupt safetensors header (not a JSON object)")
    base = 8 + n
    out, spans = [], []
    for name, info in header:
        info = dict(info) if isinstance(info, _Pairs) else info
        if name == "__metadata__":
            continue
        if not (isinstance(info, dict) and isinstance(info.get("shape"), list)
                and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2):
            raise InputError(f"{path}: corrupt safetensors entry for tensor {name!r}")
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise InputError(f"{path}: tensor {name!r} has unsupported dtype {info.get('dtype')!r}")
        shape = tuple(info["shape"])
        begin, end = info["data_offsets"]
        if not all(isinstance(v, int) and v >= 0 for v in (*shape, begin, end)):
            raise InputError(f"{path}: tensor {name!r} has a negative or non-integer shape/offset")
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(numpy_dtype(dtype)).itemsize
        if end - begin != expected or base + end > size:
            raise InputError(
                f"{path}: tensor {name!r} byte range [{begin}, {end}) does not match its "
                f"shape {list(shape)} and dtype {dtype} or runs past the end of the file")
        out.append((name, shape, dtype, base + begin, base + end))
        spans.append((begin, end, name))
    spans.sort()
    for (b0, e0, n0), (b1, _e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise InputError(f"{path}: tensors {n0!r} and {n1!r} overlap in the file")
    out.sort(key=lambda e: e[3])  # file order is the model's order for HF and Flax writers
    return out, size


def _read(path: Path, shape: tuple[int, ...], dtype: str, begin: int) -> np.ndarray:
    np_dtype = numpy_dtype(dtype)
    if 0 in shape:
        return np.zeros(shape, np_dtype)
    return np.memmap(path, dtype=np_dtype, mode="r", offset=begin, shape=shape)


def _entries(path: Path):
    entries, _ = read_header(path)
    for name, shape, dtype, begin, _end in entries:
        yield name, shape, dtype, partial(_read, path, shape, dtype, begin)


def load_safetensors(path: Path, layout: Layout | None) -> ModelWeights:
    return build_weights(source=display_name(path), format="safetensors", default_layout="pytorch",
                         layout=layout, files=[path], entries=list(_entries(path)))


def find_index(directory: Path) -> Path | None:
    found = sorted(directory.glob("*.safetensors.index.json")) or sorted(directory.glob("*.bin.index.json"))
    return found[0] if found else None


def load_sharded(index: Path, layout: Layout | None) -> ModelWeights:
    """A sharded set: an `*.index.json` with a weight_map naming a shard per tensor.

    safetensors shards are read here; PyTorch `.bin`/`.pt` shards go to the torch loader.
    """
    weight_map = read_weight_map(index)
    if weight_map and all(str(s).endswith((".bin", ".pt", ".pth")) for s in weight_map.values()):
        from .torch_io import load_torch_sharded

        return load_torch_sharded(index, weight_map, layout)
    shards = shard_paths(index, weight_map)
    entries = [e for shard in shards for e in _entries(shard)]
    check_complete(index, weight_map, entries)
    return build_weights(source=index.parent.name or str(index.parent), format="safetensors-sharded",
                         default_layout="pytorch", layout=layout, files=shards, entries=entries)
