"""ModelSpecs: built from Flax linen or nnx models, imported from `--model`, checked before use."""
from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .types import ModelSpec

_KINDS = ("image", "tabular", "sequence")


def spec_from_linen(module: Any, variables: Any, inputs: Any, **fields: Any) -> ModelSpec:
    """A ModelSpec for a linen Module and its variables ({"params": ..., other collections}).

    Attributions differentiate the params only; other collections (batch_stats, ...) are
    applied as they are, in inference mode if the module's __call__ takes no flag for it.
    """
    variables = dict(variables)
    params = variables.pop("params")

    def apply_fn(p, x):
        return module.apply({"params": p, **variables}, x)

    def intermediates_fn(p, x):
        _, state = module.apply({"params": p, **variables}, x, capture_intermediates=True,
                                mutable=["intermediates"])
        return state["intermediates"]

    return ModelSpec(apply_fn=apply_fn, params=params, inputs=inputs,
                     **{"intermediates_fn": intermediates_fn, "name": type(module).__name__, **fields})


def spec_from_nnx(module: Any, inputs: Any, **fields: Any) -> ModelSpec:
    """A ModelSpec for a live flax.nnx Module: its state is the params, nnx.merge rebuilds it."""
    from flax import nnx

    graphdef, state = nnx.split(module)

    def apply_fn(s, x):
        return nnx.merge(graphdef, s)(x)

    return ModelSpec(apply_fn=apply_fn, params=state, inputs=inputs,
                     **{"name": type(module).__name__, **fields})


def _import(module_ref: str):
    if module_ref.endswith(".py") or os.sep in module_ref or "/" in module_ref:
        from .samples import import_file

        path = Path(module_ref)
        if not path.is_file():
            raise InputError(f"--model {module_ref}: no such file")
        return import_file(path.resolve(), f"reportgen_user_{path.stem}")
    sys.path.insert(0, os.getcwd())  # `--model mymodels.cnn:spec` from the project directory
    try:
        return importlib.import_module(module_ref)
    finally:
        sys.path.remove(os.getcwd())


def load_factory(ref: str) -> ModelSpec:
    """Import `pkg.module:factory` (or `path/to/file.py:factory`) and call it."""
    module_ref, sep, name = ref.rpartition(":")
    if not sep or not module_ref or not name.isidentifier():
        raise InputError(f"--model {ref}: expected MODULE:FACTORY, e.g. mypkg.models:spec or models.py:spec")
    try:
        module = _import(module_ref)
    except InputError:
        raise
    except Exception as exc:  # the user's module: any import error is their input's problem
        raise InputError(f"--model {ref}: cannot import {module_ref} ({type(exc).__name__}: {exc})") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise InputError(f"--model {ref}: {module_ref} has no callable {name!r}")
    try:
        spec = factory()
    except Exception as exc:
        raise InputError(f"--model {ref}: {name}() failed ({type(exc).__name__}: {exc})") from None
    return spec


def load_inputs(path: str | os.PathLike, spec: ModelSpec) -> ModelSpec:
    """Replace the spec's examples with an .npz of `inputs` (or `x`), optional `labels`/`y`, `groups`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"--inputs {path}: not a readable .npz file ({exc})") from None
    key = next((k for k in ("inputs", "x") if k in arrays), None)
    if key is None:
        raise InputError(f"--inputs {path}: needs an array named 'inputs' (or 'x'); it has {', '.join(arrays) or 'none'}")
    labels = next((arrays[k] for k in ("labels", "y") if k in arrays), None)
    return dataclasses.replace(spec, inputs=arrays[key], labels=labels, groups=arrays.get("groups"))


def check_spec(spec: Any, origin: str = "the ModelSpec") -> ModelSpec:
    """Fail early, with one clear message, on a spec the model-level sections could not run on."""
    if not isinstance(spec, ModelSpec):
        raise InputError(f"{origin}: expected a reportgen.ModelSpec, got {type(spec).__name__}")
    if not callable(spec.apply_fn):
        raise InputError(f"{origin}: apply_fn is not callable")
    if spec.input_kind not in _KINDS:
        raise InputError(f"{origin}: input_kind must be one of {', '.join(_KINDS)}, not {spec.input_kind!r}")
    try:
        inputs = np.asarray(spec.inputs)
    except Exception as exc:
        raise InputError(f"{origin}: inputs are not an array ({exc})") from None
    if inputs.ndim < 2 or len(inputs) == 0 or inputs.dtype.kind not in "fiub":
        raise InputError(f"{origin}: inputs must be a non-empty numeric array [examples, ...], "
                         f"got shape {inputs.shape} of {inputs.dtype}")
    if inputs.dtype.kind == "f" and not np.isfinite(inputs).all():
        raise InputError(f"{origin}: inputs hold NaN or Inf values")
    for field in ("labels", "groups"):
        value = getattr(spec, field)
        if value is not None and np.shape(value)[:1] != (len(inputs),):
            raise InputError(f"{origin}: {field} has shape {np.shape(value)}, expected one per input ({len(inputs)})")
    for feature in spec.sensitive_features or ():
        names = list(spec.feature_names or ())
        known = (feature in names) if isinstance(feature, str) else (0 <= int(feature) < int(np.prod(inputs.shape[1:])))
        if not known:
            raise InputError(f"{origin}: sensitive feature {feature!r} is not one of its features "
                             f"({', '.join(map(str, names)) or 'no feature_names given'})")
    import jax

    try:
        out = jax.eval_shape(spec.apply_fn, spec.params, inputs[:1])
    except Exception as exc:
        raise InputError(f"{origin}: apply_fn(params, inputs[:1]) fails ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not hasattr(out, "shape") or len(out.shape) not in (1, 2) or out.shape[0] != 1:
        raise InputError(f"{origin}: apply_fn must return logits [batch, classes] (or [batch]); "
                         f"for one input it returned {getattr(out, 'shape', type(out).__name__)}")
    return dataclasses.replace(spec, inputs=inputs)
