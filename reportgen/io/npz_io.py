"""`.npz` loader: shapes and dtypes read from each member's .npy header, arrays on demand."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import Layout, ModelWeights
from .common import build_weights, display_name, dtype_name


def load_npz(path: Path, layout: Layout | None) -> ModelWeights:
    try:
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if m.endswith(".npy")]
        headers = []
        for member in members:
            with archive.open(member) as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _fortran, dtype = read_header(f)
            if dtype.hasobject:
                raise InputError(f"{path}: member {member!r} holds Python objects (pickle); refused")
            headers.append((member[: -len(".npy")], tuple(shape), dtype))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npz archive ({exc})") from None
    if not headers:
        raise InputError(f"{path}: .npz archive holds no arrays")

    def read(name: str) -> np.ndarray:
        with np.load(path, allow_pickle=False) as data:
            return data[name]

    entries = [(n, s, dtype_name(d), lambda n=n: read(n)) for n, s, d in headers]
    return build_weights(source=display_name(path), format="npz", default_layout="flax", layout=layout,
                         files=[path], entries=entries)
