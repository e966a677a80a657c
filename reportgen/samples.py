"""The bundled sample models: where their weights are and how to import their ModelSpec factory."""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .errors import InputError
from .resources import resource_dir


@dataclass(frozen=True)
class Sample:
    folder: str
    weights: str
    factory: str
    description: str
    training_log: str | None = None  # the recorder's log of its training run
    compare: str | None = None  # an earlier checkpoint, for the checkpoint diff


SAMPLES: dict[str, Sample] = {
    "digits": Sample("digits_cnn", "weights.msgpack", "spec",
                     "Flax CNN on scikit-learn's 8x8 digits (Flax msgpack), with its training log and first-epoch "
                     "checkpoint", training_log="training_log.npz", compare="weights_epoch1.msgpack"),
    "credit": Sample("credit_mlp", "weights_planted.safetensors", "spec",
                     "Flax MLP on a synthetic credit table with a planted group bias (safetensors)"),
}


def sample(target: str) -> Sample:
    if target not in SAMPLES:
        raise InputError(f"unknown demo target {target!r}; choose from {', '.join(SAMPLES)}")
    return SAMPLES[target]


def weights_path(target: str) -> Path:
    s = sample(target)
    return resource_dir("sample_models") / s.folder / s.weights


def sample_extras(target: str) -> tuple[Path | None, Path | None]:
    """The sample's training log and earlier checkpoint, where it ships them."""
    s = sample(target)
    folder = resource_dir("sample_models") / s.folder
    return (folder / s.training_log if s.training_log else None, folder / s.compare if s.compare else None)


def import_file(path: Path, module_name: str) -> ModuleType:
    """Import a module from a file path (sample models are data folders, not packages)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"{path}: cannot import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def model_spec(target: str):
    s = sample(target)
    module = import_file(resource_dir("sample_models") / s.folder / "model.py",
                         f"reportgen_sample_{s.folder}")
    return getattr(module, s.factory)()
