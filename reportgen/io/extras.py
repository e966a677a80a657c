"""Optional libraries for the non-Flax formats: imported only when such a file is opened."""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np

from ..errors import InputError

_EXTRAS = {  # module -> (extra, what it reads, how to install)
    "torch": ("torch", "PyTorch files", "pip install 'reportgen[torch]' (CPU wheels: "
              "pip install torch --index-url https://download.pytorch.org/whl/cpu)"),
    "onnx": ("onnx", "ONNX files", "pip install 'reportgen[onnx]'"),
    "h5py": ("keras", "Keras/HDF5 weight files", "pip install 'reportgen[keras]'"),
}


def require(module: str, path: Path) -> ModuleType:
    """Import an optional library, or fail with the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra, what, how = _EXTRAS[module]
        raise InputError(f"{path}: reading {what} needs the optional '{extra}' extra, which is not "
                         f"installed ({module} is missing): {how}") from None


def as_numpy(array: np.ndarray, dtype_name: str) -> np.ndarray:
    """Reinterpret raw bits (int16 for bfloat16, uint8 for float8) as the named ml_dtypes type."""
    from ..types import numpy_dtype

    return np.asarray(array).view(numpy_dtype(dtype_name))
