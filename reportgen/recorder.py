"""TrainingRecorder: per-tensor gradient, weight and update summaries from a JAX training loop.

    rec = reportgen.TrainingRecorder(every=1)
    for step in range(steps):
        new_params, opt_state, loss, grads, updates = train_step(params, opt_state, batch)
        rec.record(step, params, grads, updates=updates, loss=loss, metrics={"accuracy": acc})
        params = new_params      # the weights the gradients were taken at are the ones recorded
    rec.save("run.npz")          # then: reportgen report weights --training-log run.npz

Each record is one jit-compiled call over the pytrees (norms, the update/param ratio, the share of
zero gradients and histogram counts over bin edges fixed at the first record); its results stay
on the device and are fetched in blocks, so recording never waits for the step to finish.
Inside a jitted step, `rec.summarize(params, grads, updates)` gives the same summaries fused into
the step; pass them with `rec.append(step, summaries, loss=...)`.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, BinaryIO, Mapping

import numpy as np

LOG_FORMAT = "reportgen-training-log"
LOG_VERSION = 1
_FLUSH = 64  # records kept on the device before one device_get fetches them all


def named_leaves(tree) -> list[tuple[str, Any]]:
    import jax

    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [("/".join(_key(k) for k in path), leaf) for path, leaf in flat]


def _key(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _tops(leaves) -> list[float]:
    """Each tensor's histogram half-width: twice its largest |value| at the first record (room to
    grow). A tensor that starts at zero (biases, usually) gets the largest of the others' instead:
    its own would be zero, and every later value would pile into the end bins."""
    tops = []
    for leaf in leaves:
        v = np.abs(np.asarray(leaf, np.float32)).ravel()
        v = v[np.isfinite(v)]
        tops.append(2.0 * float(v.max()) if v.size else 0.0)
    fallback = max(tops, default=0.0) or 1.0
    return [t or fallback for t in tops]


def _edges(tops: np.ndarray, bins: int) -> np.ndarray:
    """[T, bins + 1] uniform edges over [-top, top] per tensor."""
    return np.stack([np.linspace(-t, t, bins + 1, dtype=np.float32) for t in tops])


class TrainingRecorder:
    """Collects per-tensor summaries every `every` steps; `save` writes the log (.npz)."""

    def __init__(self, every: int = 1, bins: int = 64, metadata: Mapping[str, Any] | None = None) -> None:
        if every < 1 or bins < 2:
            raise ValueError("every must be >= 1 and bins >= 2")
        self.every, self.bins, self.metadata = every, bins, dict(metadata or {})
        self.names: list[str] | None = None
        self._edges: tuple[Any, Any] | None = None  # histogram edges [T, bins + 1] of params and grads
        self._pending: list[tuple[int, Any, Any, dict]] = []
        self._host: list[tuple[int, dict, float, dict]] = []

    # -- summaries -------------------------------------------------------------------------
    def start(self, params, grads) -> None:
        """Fix the tensor list and the histogram edges (record() does this on its first call)."""
        import jax
        import jax.numpy as jnp

        if self._edges is not None:
            return
        named = named_leaves(params)
        self.names = [n for n, _ in named]
        tops = [_tops(jax.device_get([leaf for _, leaf in named_leaves(tree)])) for tree in (params, grads)]
        self._edges = tuple(jnp.asarray(_edges(np.array(t), self.bins)) for t in tops)  # [T, bins + 1] each

    def summarize(self, params, grads, updates=None) -> dict:
        """Per-tensor summaries as arrays [T] (histograms [T, bins]); pure and jit-compatible, so it
        can run inside a jitted training step. Needs the edges of a first `record` (or `start`)."""
        if self._edges is None:
            raise RuntimeError("call record() (or start(params, grads)) once before summarize()")
        return _summaries(params, grads, updates, *self._edges)

    # -- recording -------------------------------------------------------------------------
    def record(self, step: int, params, grads, updates=None, loss=None, metrics: Mapping[str, Any] | None = None):
        """Summarise this step (if step % every == 0); nothing waits for the device."""
        if step % self.every:
            return
        self.start(params, grads)
        self.append(step, _summaries_jit()(params, grads, updates, *self._edges), loss, metrics)

    def append(self, step: int, summaries: dict, loss=None, metrics: Mapping[str, Any] | None = None) -> None:
        """Keep summaries from `summarize` (device arrays are fine: they are fetched in blocks)."""
        self._pending.append((int(step), summaries, loss, dict(metrics or {})))
        if len(self._pending) >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        import jax

        fetched = jax.device_get([(s, loss, m) for _, s, loss, m in self._pending])
        for (step, *_), (s, loss, m) in zip(self._pending, fetched):
            self._host.append((step, s, np.nan if loss is None else float(loss), {k: float(v) for k, v in m.items()}))
        self._pending.clear()

    # -- the log ---------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """Everything recorded so far, as the arrays `save` writes."""
        import jax

        self._flush()
        if not self._host:
            raise ValueError("nothing recorded yet")
        metric_names = sorted({k for *_, m in self._host for k in m})
        p_edges, g_edges = (np.asarray(e, np.float32) for e in jax.device_get(self._edges))
        out = {
            "steps": np.array([h[0] for h in self._host], np.int64),
            "loss": np.array([h[2] for h in self._host], np.float32),
            "names": np.array(self.names),
            "param_edges": p_edges, "grad_edges": g_edges,
            **{f"metric/{k}": np.array([h[3].get(k, np.nan) for h in self._host], np.float32) for k in metric_names},
        }
        for key in ("param_norm", "grad_norm", "update_norm", "zero_grad_fraction"):
            out[key] = np.stack([np.asarray(h[1][key], np.float32) for h in self._host])
        for key in ("param_hist", "grad_hist"):  # counts: uint32, compressed well by savez_compressed
            out[key] = np.stack([np.asarray(h[1][key], np.uint32) for h in self._host])
        return out

    def save(self, target: str | Path | BinaryIO) -> None:
        """Write the log (.npz, no pickles) to a path or a binary file object."""
        meta = {"format": LOG_FORMAT, "version": LOG_VERSION, "every": self.every, "bins": self.bins, **self.metadata}
        if isinstance(target, (str, Path)):
            with open(target, "wb") as f:  # a file object: numpy would append ".npz" to other names
                np.savez_compressed(f, metadata=np.array(json.dumps(meta)), **self.arrays())
        else:
            np.savez_compressed(target, metadata=np.array(json.dumps(meta)), **self.arrays())


def _counts(x, edges):
    """np.histogram(clip(x, edges[0], edges[-1]), edges) for finite x, NaN/Inf left out: the bin
    from the uniform spacing, then corrected against the edges themselves as numpy does, so that
    values within rounding of an edge land where numpy puts them."""
    import jax.numpy as jnp

    bins = edges.shape[0] - 1
    lo, hi = edges[0], edges[-1]
    idx = jnp.clip(jnp.floor((x - lo) / (hi - lo) * bins), 0, bins - 1).astype(jnp.int32)
    idx = jnp.where(x < edges[idx], idx - 1, idx)
    idx = jnp.where((x >= edges[jnp.minimum(idx + 1, bins)]) & (idx < bins - 1), idx + 1, idx)
    idx = jnp.where(jnp.isfinite(x), jnp.clip(idx, 0, bins - 1), bins)  # an extra bin, dropped below
    return jnp.bincount(idx, length=bins + 1)[:bins].astype(jnp.uint32)


def _summaries(params, grads, updates, p_edges, g_edges) -> dict:
    import jax.numpy as jnp

    p_leaves = [leaf for _, leaf in named_leaves(params)]
    g_leaves = [leaf for _, leaf in named_leaves(grads)]
    u_leaves = [leaf for _, leaf in named_leaves(updates)] if updates is not None else None
    out: dict[str, list] = {k: [] for k in ("param_norm", "grad_norm", "update_norm", "zero_grad_fraction",
                                            "param_hist", "grad_hist")}
    for t, (p, g) in enumerate(zip(p_leaves, g_leaves)):
        p, g = jnp.ravel(p).astype(jnp.float32), jnp.ravel(g).astype(jnp.float32)
        out["param_norm"].append(jnp.linalg.norm(p))
        out["grad_norm"].append(jnp.linalg.norm(g))
        out["update_norm"].append(jnp.linalg.norm(jnp.ravel(u_leaves[t]).astype(jnp.float32))
                                  if u_leaves is not None else jnp.float32(jnp.nan))
        out["zero_grad_fraction"].append(jnp.mean(g == 0))
        out["param_hist"].append(_counts(p, p_edges[t]))
        out["grad_hist"].append(_counts(g, g_edges[t]))
    return {k: jnp.stack(v) for k, v in out.items()}


@functools.lru_cache(maxsize=1)
def _summaries_jit():
    """The jitted _summaries (built on first use: importing reportgen must not import jax), one
    compilation per pytree structure and process, shared by every recorder."""
    import jax

    return jax.jit(_summaries)
