"""Loaders for nested trees of arrays: live pytrees (linen dicts, nnx state), Flax msgpack, Orbax."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import InputError
from ..types import Layout, ModelWeights
from .common import build_weights, display_name, dtype_name


def _leaf_array(value: Any) -> Any | None:
    """The array inside a leaf, unwrapping nnx Variables (`get_value()`); None for non-arrays."""
    if callable(getattr(value, "get_value", None)):  # nnx.Variable: checked first, it proxies .shape
        value = value.get_value()
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    return None


def flatten_tree(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (path, array) in insertion order; paths join keys with '/' like Flax's own tools."""
    array = _leaf_array(tree)
    if array is not None:
        yield prefix, array
        return
    if isinstance(tree, Mapping) or hasattr(tree, "items") and callable(tree.items):
        children = tree.items()
    elif isinstance(tree, (list, tuple)):
        children = enumerate(tree)
    else:
        return  # scalars, None, strings: metadata, not weights
    for key, child in children:
        key = getattr(key, "key", key)  # jax tree path entries
        yield from flatten_tree(child, f"{prefix}/{key}" if prefix else str(key))


def _to_state(tree: Any) -> Any:
    """nnx Modules are turned into their state; everything else is walked as it is."""
    import sys

    nnx = sys.modules.get("flax.nnx")  # only if the caller already uses nnx: no import cost
    if nnx is not None and isinstance(tree, nnx.Module):
        return nnx.state(tree)
    return tree


def _entries_from_tree(tree: Any):
    for name, array in flatten_tree(_to_state(tree)):
        shape = tuple(int(d) for d in array.shape)
        # Read through the host once, lazily: jax arrays stay on device until asked for.
        yield name, shape, dtype_name(array.dtype), (lambda a=array: np.asarray(a))


def load_pytree(tree: Any, layout: Layout | None) -> ModelWeights:
    import hashlib

    entries = list(_entries_from_tree(tree))
    if not entries:
        raise InputError("the pytree holds no arrays")
    h = hashlib.sha256()
    for name, shape, dtype, reader in entries:
        h.update(f"{name}\0{shape}\0{dtype}\0".encode())
        h.update(np.ascontiguousarray(reader()).tobytes())
    return build_weights(source="<pytree>", format="pytree", default_layout="flax", layout=layout,
                         files=[], entries=entries, sha256=h.hexdigest())


def load_msgpack(path: Path, layout: Layout | None) -> ModelWeights:
    """Output of `flax.serialization.to_bytes`: restored to nested dicts without a template."""
    from flax import serialization

    try:
        tree = serialization.msgpack_restore(path.read_bytes())
    except Exception as exc:  # msgpack raises many unrelated types on corrupt data
        raise InputError(f"{path}: not a readable Flax msgpack file ({type(exc).__name__}: {exc})") from None
    entries = list(_entries_from_tree(tree))
    if not entries:
        raise InputError(f"{path}: Flax msgpack file holds no arrays")
    return build_weights(source=display_name(path), format="flax-msgpack", default_layout="flax",
                         layout=layout, files=[path], entries=entries)


def is_orbax_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in ("_METADATA", "_CHECKPOINT_METADATA", "manifest.ocdbt"))


def load_orbax(path: Path, layout: Layout | None) -> ModelWeights:
    """Shapes come from the checkpoint metadata; arrays are restored once, on first access."""
    import orbax.checkpoint as ocp

    checkpointer = ocp.StandardCheckpointer()
    try:
        meta = checkpointer.metadata(path.resolve())
        tree_meta = getattr(getattr(meta, "item_metadata", meta), "tree", None) or meta.item_metadata
    except Exception as exc:
        raise InputError(f"{path}: not a readable Orbax checkpoint ({type(exc).__name__}: {exc})") from None
    restored: dict[str, Any] = {}

    def read(name: str) -> np.ndarray:
        if not restored:
            restored.update(flatten_tree(checkpointer.restore(path.resolve())))
        return np.asarray(restored[name])

    entries = [(name, tuple(m.shape), dtype_name(m.dtype), lambda n=name: read(n))
               for name, m in flatten_tree(tree_meta)]
    if not entries:
        raise InputError(f"{path}: Orbax checkpoint holds no arrays")
    files = [p for p in sorted(path.rglob("*")) if p.is_file()]
    return build_weights(source=display_name(path), format="orbax", default_layout="flax", layout=layout,
                         files=files, entries=entries)
