"""Property-based fuzzing of the safetensors and msgpack loaders: only InputError may escape."""
from __future__ import annotations

import json
import struct

import msgpack
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reportgen
from reportgen.errors import InputError

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_DTYPES = st.sampled_from(["F32", "F16", "BF16", "F64", "I8", "U8", "I64", "BOOL", "F8_E4M3", "F13", "", 7])
_INTS = st.one_of(st.integers(-3, 70), st.just(2**40), st.text(max_size=2), st.none())
_ENTRY = st.fixed_dictionaries({"dtype": _DTYPES, "shape": st.one_of(st.lists(_INTS, max_size=4), _INTS),
                                "data_offsets": st.one_of(st.lists(_INTS, max_size=3), _INTS)})
_HEADER = st.dictionaries(st.text(max_size=12), _ENTRY, max_size=4)


def _load_all(path) -> None:
    """Load, and read every tensor: a header that validated must give arrays."""
    try:
        weights = reportgen.load(path)
    except InputError:
        return
    for t in weights:
        array = t.load()
        assert array.shape == t.shape


@_SETTINGS
@given(header=_HEADER, data=st.binary(max_size=300), lie=st.one_of(st.none(), st.integers(0, 2**64 - 1)))
def test_safetensors_headers(tmp_path_factory, header, data, lie):
    raw = json.dumps(header).encode()
    path = tmp_path_factory.mktemp("st") / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw) if lie is None else lie) + raw + data)
    _load_all(path)


@_SETTINGS
@given(blob=st.binary(max_size=400))
def test_safetensors_random_bytes(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("sb") / "m.safetensors"
    path.write_bytes(struct.pack("<Q", min(len(blob), 200)) + blob)
    _load_all(path)


_LEAF = st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5), st.binary(max_size=8),
                  st.none(), st.booleans())
_TREE = st.recursive(_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                    st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                     max_leaves=12)


@_SETTINGS
@given(tree=_TREE, cut=st.integers(0, 64), ndarray=st.booleans())
def test_msgpack_trees(tmp_path_factory, tree, cut, ndarray):
    from flax import serialization

    if ndarray:  # a real Flax array leaf beside the random ones
        tree = {"params": {"kernel": np.ones((2, 3), np.float32)}, "extra": tree}
    blob = serialization.msgpack_serialize(tree) if ndarray else msgpack.packb(tree, use_bin_type=True)
    path = tmp_path_factory.mktemp("mp") / "m.msgpack"
    path.write_bytes(blob[: len(blob) - cut] if cut < len(blob) else blob)
    _load_all(path)
