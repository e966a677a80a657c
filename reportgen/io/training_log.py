"""Reads a TrainingRecorder log (.npz, no pickles) into a TrainingLog, validating its shapes."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import InputError
from ..recorder import LOG_FORMAT, LOG_VERSION
from ..types import TrainingLog

_PER_TENSOR = ("param_norm", "grad_norm", "update_norm", "zero_grad_fraction")


def load_training_log(source: str | Path | BinaryIO) -> TrainingLog:
    """From a path or a binary file object (a TrainingRecorder's save)."""
    path = Path(source) if isinstance(source, (str, Path)) else Path("TrainingRecorder")
    try:
        with np.load(source, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: not a training log (.npz written by reportgen.TrainingRecorder): {exc}") from None
    try:
        meta = json.loads(str(data["metadata"]))
    except (KeyError, ValueError):
        meta = {}
    if meta.get("format") != LOG_FORMAT:
        raise InputError(f"{path}: not a training log (no {LOG_FORMAT!r} metadata); write one with "
                         "reportgen.TrainingRecorder(...).save(path)")
    if meta.get("version", 0) > LOG_VERSION:
        raise InputError(f"{path}: training log version {meta['version']} is newer than this reportgen reads")
    try:
        names = tuple(str(n) for n in data["names"])
        steps = np.asarray(data["steps"], np.int64)
        s, t = len(steps), len(names)
        for key in _PER_TENSOR:
            if data[key].shape != (s, t):
                raise ValueError(f"{key} has shape {data[key].shape}, expected {(s, t)}")
        bins = data["param_hist"].shape[-1]
        for key in ("param_hist", "grad_hist"):
            if data[key].shape != (s, t, bins):
                raise ValueError(f"{key} has shape {data[key].shape}, expected {(s, t, bins)}")
        for key in ("param_edges", "grad_edges"):
            if data[key].shape != (t, bins + 1):
                raise ValueError(f"{key} has shape {data[key].shape}, expected {(t, bins + 1)}")
        if s == 0 or data["loss"].shape != (s,):
            raise ValueError("no records, or loss does not have one value per record")
    except KeyError as exc:
        raise InputError(f"{path}: training log lacks {exc.args[0]!r}") from None
    except ValueError as exc:
        raise InputError(f"{path}: corrupt training log: {exc}") from None
    metrics = tuple((k.removeprefix("metric/"), np.asarray(v, np.float32)) for k, v in sorted(data.items())
                    if k.startswith("metric/") and v.shape == (s,))
    f32 = {k: np.asarray(data[k], np.float32) for k in (*_PER_TENSOR, "param_edges", "grad_edges")}
    return TrainingLog(names=names, steps=steps, loss=np.asarray(data["loss"], np.float32), metrics=metrics,
                       param_hist=np.asarray(data["param_hist"], np.uint32),
                       grad_hist=np.asarray(data["grad_hist"], np.uint32), source=path.name,
                       every=int(meta.get("every", 1)), **f32)
