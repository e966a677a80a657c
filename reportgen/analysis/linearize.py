"""A jaxpr interpreter that finds a model's layers, reads their outputs, feeds in new ones, and
can evaluate the model with ReLU as identity and max-pool as average-pool (its linear stand-in).

Nothing here patches the model or JAX: the model is traced once into a jaxpr and this module
evaluates that jaxpr itself, so the replacements exist only inside the functions it returns.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

MATMULS = ("conv_general_dilated", "dot_general")
# Calls whose body is evaluated inline, so that layers inside them are seen and replaced too.
_CALLS = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
          "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr",
          "custom_vjp_call_jaxpr": "fun_jaxpr", "remat": "jaxpr", "checkpoint": "jaxpr"}
_RELU_NAMES = ("relu", "relu6")  # jax.nn's jit/custom_jvp names; anything else stays as it is
# Ops that pass a parameter through unchanged in value: a kernel reshaped is still that kernel.
_PASS = ("reshape", "convert_element_type", "broadcast_in_dim", "squeeze", "expand_dims", "copy", "transpose")


@dataclass(frozen=True)
class Layer:
    """A matmul (dense or conv) whose one operand is a parameter: one layer of units."""

    index: int  # order of execution
    param: str  # path of the kernel parameter, e.g. Conv_1/kernel
    kind: str  # dense | conv
    out_shape: tuple[int, ...]  # of the matmul result for one example, e.g. (1, 8, 8, 32)
    unit_ndim: int = 1  # trailing axes that index units: 2 for DenseGeneral's (heads, head_dim)

    @property
    def name(self) -> str:
        parts = self.param.split("/")
        return "/".join(parts[:-1]) if len(parts) > 1 else self.param

    @property
    def n_units(self) -> int:
        return math.prod(self.out_shape[len(self.out_shape) - self.unit_ndim:])

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.out_shape[1:len(self.out_shape) - self.unit_ndim]

    def units_last(self, out):
        """One example's matmul result [1, *out] as [*spatial, units]."""
        return out.reshape(*self.spatial, self.n_units)


def _unit_ndim(eqn, operand: int) -> int | None:
    """How many trailing output axes the parameter operand contributes (its units), or None
    when its units are not the trailing axes (a kernel on the left, a channels-first conv)."""
    out_ndim = len(eqn.outvars[0].aval.shape)
    if eqn.primitive.name == "conv_general_dilated":
        out_spec = eqn.params["dimension_numbers"].out_spec
        return 1 if operand == 1 and out_spec[1] == out_ndim - 1 else None
    (contract, batch) = eqn.params["dimension_numbers"]
    if operand != 1:
        return None
    free = len(eqn.invars[1].aval.shape) - len(contract[1]) - len(batch[1])
    return free if free >= 1 else None


@dataclass(frozen=True, eq=False)  # compared by identity: jitted kernels are cached per trace
class Traced:
    """One model traced for a batch of one example; parameters are passed to every evaluation."""

    jaxpr: Any = field(repr=False)  # ClosedJaxpr of (params, x) -> logits
    names: tuple[str, ...]  # parameter paths, in the params' leaf order
    layers: tuple[Layer, ...]
    input_shape: tuple[int, ...]  # (1, ...)


_TRACES: dict = {}


def trace(apply_fn: Callable, params: Any, x1: np.ndarray) -> Traced:
    """Trace apply_fn(params, x1) once per function and shapes, and list its layers in execution
    order. The same function with parameters of the same shapes gets the same Traced back, so
    that its compiled kernels are reused (a second report compiles nothing)."""
    import jax

    leaves, tree = jax.tree_util.tree_flatten(params)
    key = (apply_fn, tree, tuple((np.shape(l), str(getattr(l, "dtype", type(l).__name__))) for l in leaves),
           x1.shape, str(x1.dtype))
    try:
        found = _TRACES.get(key)
    except TypeError:  # an unhashable apply_fn: traced afresh every time
        found, key = None, None
    if found is not None:
        return found
    closed = jax.make_jaxpr(apply_fn)(params, x1)
    traced = Traced(jaxpr=closed, names=tuple(_param_names(params)), layers=(), input_shape=tuple(x1.shape))
    run = _Run(linear=False, inject={}, capture=set())
    jax.eval_shape(lambda p, x: _run(traced, p, x, run), params, x1)  # records every matmul on a parameter
    seen: set[str] = set()
    layers = []
    for param, kind, shape, unit_ndim in run.seen:
        if param not in seen:  # a kernel used twice (weight tying) is one layer, at its first use
            seen.add(param)
            layers.append(Layer(index=len(layers), param=param, kind=kind, out_shape=shape, unit_ndim=unit_ndim))
    traced = dataclasses.replace(traced, layers=tuple(layers))
    if key is not None:
        if len(_TRACES) > 16:
            _TRACES.clear()
        _TRACES[key] = traced
    return traced


def _is_literal(v) -> bool:
    from jax.extend.core import Literal

    return isinstance(v, Literal)


def _inner(eqn):
    key = _CALLS.get(eqn.primitive.name)
    if key is None or key not in eqn.params:
        return None
    inner = eqn.params[key]
    if not hasattr(inner, "jaxpr"):  # remat holds an open Jaxpr: close it without consts
        from jax.extend.core import ClosedJaxpr

        inner = ClosedJaxpr(inner, ())
    return inner


class _Done(Exception):
    """Every wanted layer is read: the rest of the model need not run."""


@dataclass
class _Run:
    linear: bool
    inject: dict  # layer param -> value replacing that matmul's result
    capture: set  # layer params whose matmul results are kept
    captured: dict = field(default_factory=dict)
    seen: list = field(default_factory=list)  # (param, kind, shape, unit axes) of each matmul on a parameter
    used: set = field(default_factory=set)  # parameters whose first matmul has run


def _zero_literal(v) -> bool:
    return _is_literal(v) and np.ndim(v.val) == 0 and float(v.val) == 0.0


def _eval(jaxpr, consts, args, tags: dict, run: _Run) -> list:
    """eval_jaxpr with parameters tagged by path, and the replacements `run` asks for."""
    from jax import lax

    env: dict = {}
    tag_env: dict = {}

    def read(v):
        return v.val if _is_literal(v) else env[v]

    env.update(zip(jaxpr.constvars, consts))
    for i, (v, a) in enumerate(zip(jaxpr.invars, args)):
        env[v] = a
        if i in tags:
            tag_env[v] = tags[i]
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        ins = [read(v) for v in eqn.invars]
        in_tags = [None if _is_literal(v) else tag_env.get(v) for v in eqn.invars]
        params = [t for t in in_tags if t is not None]
        inner = _inner(eqn)
        if name in MATMULS and len(params) == 1:
            param = params[0]
            unit_ndim = _unit_ndim(eqn, next(i for i, t in enumerate(in_tags) if t is not None))
            if unit_ndim is not None:
                run.seen.append((param, "conv" if name == "conv_general_dilated" else "dense",
                                 tuple(eqn.outvars[0].aval.shape), unit_ndim))
            # A kernel used twice (a shared layer) is replaced at its first use only, where it is read.
            first = param not in run.used
            run.used.add(param)
            out = [run.inject[param]] if first and param in run.inject else _bind(eqn, ins)
            if first and param in run.capture:
                run.captured[param] = out[0]
                if run.capture <= run.captured.keys():
                    raise _Done
        elif run.linear and name == "max" and any(_zero_literal(v) for v in eqn.invars):
            out = [next(x for v, x in zip(eqn.invars, ins) if not _zero_literal(v))]  # ReLU -> identity
        elif run.linear and inner is not None and eqn.params.get("name") in _RELU_NAMES and len(ins) == 1:
            out = ins
        elif run.linear and name == "reduce_window_max":
            p = eqn.params
            total = lax.reduce_window(ins[0], np.array(0, ins[0].dtype), lax.add, p["window_dimensions"],
                                      p["window_strides"], p["padding"], p["base_dilation"], p["window_dilation"])
            out = [total / math.prod(p["window_dimensions"])]  # max-pool -> average-pool
        elif inner is not None and len(inner.jaxpr.invars) == len(ins):
            out = _eval(inner.jaxpr, inner.consts, ins, {i: t for i, t in enumerate(in_tags) if t is not None}, run)
        else:
            out = _bind(eqn, ins)
        if name in _PASS and in_tags and in_tags[0] is not None:
            tag_env[eqn.outvars[0]] = in_tags[0]
        env.update(zip(eqn.outvars, out))
    return [read(v) for v in jaxpr.outvars]


def _bind(eqn, ins) -> list:
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*ins, **eqn.primitive.get_bind_params(eqn.params))
    return list(out) if eqn.primitive.multiple_results else [out]


def _param_names(params) -> list[str]:
    """Each leaf's path, e.g. Conv_1/kernel (an nnx Variable's trailing `value` dropped)."""
    from ..recorder import named_leaves

    return [name[:-len("/value")] if name.endswith("/value") else name for name, _ in named_leaves(params)]


def _run(traced: Traced, params: Any, x, run: _Run):
    import jax

    closed = traced.jaxpr
    try:
        return _eval(closed.jaxpr, closed.consts, [*jax.tree_util.tree_leaves(params), x],
                     dict(enumerate(traced.names)), run)[0]
    except _Done:
        return None


def layer_outputs(traced: Traced, params: Any, x, wanted: tuple[str, ...], *, linear: bool = False,
                  inject: dict | None = None) -> dict:
    """The matmul results of the `wanted` layers (by kernel path) for the example batch `x`.

    `inject` replaces named layers' matmul results with given values (layer A's units set
    directly); `linear` evaluates with ReLU as identity and max-pool as average-pool. The
    model's other operations (biases, reshapes, pooling, normalisation) run as traced, so a
    traced batch of one takes a batch of one: vmap for more.
    """
    run = _Run(linear=linear, inject=dict(inject or {}), capture=set(wanted))
    _run(traced, params, x, run)
    missing = run.capture - run.captured.keys()
    if missing:
        raise ValueError(f"layer(s) {', '.join(sorted(missing))} were not reached")
    return run.captured


def model_output(traced: Traced, params: Any, x, *, linear: bool = False):
    """The traced model's own output for `x`, evaluated by this interpreter."""
    return _run(traced, params, x, _Run(linear=linear, inject={}, capture=set()))
