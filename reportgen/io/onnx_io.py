"""ONNX weights: initializers and Constant nodes, named and laid out by the op that consumes them.

Kernels are normalised to PyTorch's layout, which Conv (OIHW) and Gemm (transB=1) already use:
MatMul weights and Gemm with transB=0 are stored (in, out) and are transposed to (out, in),
ConvTranspose's (in, out/groups, kh, kw) to (out, in, kh, kw), each noted on its tensor.
External data is read only from files inside the model's own directory.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..types import Layout, ModelWeights
from .common import build_weights, display_name
from .extras import require

# Names exporters generate for anonymous tensors: replaced by the consuming op's name.
_ANONYMOUS = re.compile(r"^(onnx::|_v_|\d+$)|Constant|_output_\d+$|^[\W\d_]+$")
_INPUT_ROLE = {"Conv": ("x", "weight", "bias"), "ConvTranspose": ("x", "weight", "bias"),
               "Gemm": ("a", "weight", "bias"), "MatMul": ("x", "weight"),
               "BatchNormalization": ("x", "scale", "bias", "running_mean", "running_var"),
               "LayerNormalization": ("x", "weight", "bias"), "Gather": ("weight", "indices"),
               "InstanceNormalization": ("x", "scale", "bias"), "Add": ("x", "bias"), "Mul": ("x", "scale")}


def _consumers(graph) -> dict[str, tuple]:
    """tensor name -> (node, input position) of its first consumer."""
    found: dict[str, tuple] = {}
    for node in graph.node:
        for pos, name in enumerate(node.input):
            found.setdefault(name, (node, pos))
    return found


def _attr(node, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def _transpose_for(node, pos: int, ndim: int) -> tuple[tuple[int, ...] | None, str]:
    """The axes that bring a consumed weight to (out, in[, kh, kw]), and a note saying so."""
    if node.op_type == "MatMul" and pos == 1 and ndim == 2:
        return (1, 0), "ONNX MatMul weight stored (in, out); transposed to (out, in)."
    if node.op_type == "Gemm" and pos == 1 and ndim == 2 and not _attr(node, "transB", 0):
        return (1, 0), "ONNX Gemm weight stored (in, out) (transB = 0); transposed to (out, in)."
    if node.op_type == "ConvTranspose" and pos == 1 and ndim >= 3 and _attr(node, "group", 1) == 1:
        return (1, 0, *range(2, ndim)), "ONNX ConvTranspose weight stored (in, out, …); transposed to (out, in, …)."
    return None, ""


def _name(raw: str, consumer: tuple | None, used: set[str]) -> str:
    if consumer is None or not _ANONYMOUS.search(raw):
        name = raw
    else:
        node, pos = consumer
        roles = _INPUT_ROLE.get(node.op_type, ())
        owner = node.name or f"{node.op_type}_{node.output[0] if node.output else ''}"
        name = f"{owner}.{roles[pos] if pos < len(roles) else f'input{pos}'}"
    base, k = name, 1
    while name in used:  # two anonymous tensors feeding one op keep distinct names
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def _check_external(tensor, root: Path, path: Path) -> None:
    for entry in tensor.external_data:
        if entry.key == "location":
            target = (root / entry.value).resolve()
            if root not in target.parents:
                raise InputError(f"{path}: tensor {tensor.name!r} points at external data outside the model's "
                                 f"directory ({entry.value!r}); refused")
            if not target.is_file():
                raise InputError(f"{path}: external data file {entry.value!r} of tensor {tensor.name!r} is missing")


def load_onnx(path: Path, layout: Layout | None) -> ModelWeights:
    onnx = require("onnx", path)
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable ONNX file ({type(exc).__name__}: {str(exc)[:200]})") from None
    graph, root = model.graph, path.parent.resolve()
    consumers = _consumers(graph)
    sources = [(t, t.name) for t in graph.initializer]
    for node in graph.node:  # some exporters (PaddleOCR's, TF's) keep every weight in Constant nodes
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None)
            if value is not None and node.output:
                sources.append((value, node.output[0]))
    entries, used, files = [], set(), {path}
    for tensor, raw in sources:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            _check_external(tensor, root, path)
            files.update((root / e.value).resolve() for e in tensor.external_data if e.key == "location")
        consumer = consumers.get(raw)
        dims = tuple(int(d) for d in tensor.dims)
        axes, note = _transpose_for(*consumer, len(dims)) if consumer else (None, "")
        shape = tuple(dims[a] for a in axes) if axes else dims
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).name
        except Exception:
            continue  # string or unknown-typed tensors carry no weights

        def read(t=tensor, axes=axes):
            array = numpy_helper.to_array(t, base_dir=str(root))
            return np.ascontiguousarray(array.transpose(axes)) if axes else array

        entries.append((_name(raw, consumer, used), shape, dtype, read, note))
    if not entries:
        raise InputError(f"{path}: the ONNX graph holds no initializers or Constant weights")
    return build_weights(source=display_name(path), format="onnx", default_layout="pytorch", layout=layout or "pytorch",
                         files=sorted(files), entries=entries)
