"""TrainingRecorder: per-tensor gradient, weight and update summaries from a JAX training loop.

    rec = reportgen.TrainingRecorder(every=1)
    for step in range(steps):
        params, opt_state, loss, grads, updates = train_step(params, opt_state, batch)
        rec.record(step, params, grads, updates=updates, loss=loss, metrics={"accuracy": acc})
    rec.save("run.npz")          # then: reportgen report weights --training-log run.npz

Each record is one jit-compiled call over the pytrees (norms, the update/param ratio, the share of
zero gradients and histogram counts over bin edges fixed at the first record); its results stay
on the device and are fetched in blocks, so recording never waits for the step to finish.
Inside a jitted step, `rec.summarize(params, grads, updates)` gives the same summaries fused into
the step; pass them with `rec.append(step, summaries, loss=...)`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO, Mapping

import numpy as np

LOG_FORMAT = "reportgen-training-log"
LOG_VERSION = 1
_FLUSH = 64  # records kept on the device before one device_get fetches them all


def _named_leaves(tree) -> list[tuple[str, Any]]:
    import jax

    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [("/".join(_key(k) for k in path), leaf) for path, leaf in flat]


def _key(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Symmetric edges over twice the first record's largest |value| (room to grow), never empty."""
    finite = np.abs(values[np.isfinite(values)])
    top = 2.0 * float(finite.max()) if finite.size else 1.0
    return np.linspace(-(top or 1e-8), top or 1e-8, bins + 1, dtype=np.float32)


class TrainingRecorder:
    """Collects per-tensor summaries every `every` steps; `save` writes the log (.npz)."""

    def __init__(self, every: int = 1, bins: int = 64, metadata: Mapping[str, Any] | None = None) -> None:
        if every < 1 or bins < 2:
            raise ValueError("every must be >= 1 and bins >= 2")
        self.every, self.bins, self.metadata = every, bins, dict(metadata or {})
        self.names: list[str] | None = None
        self._edges: tuple[Any, Any] | None = None  # (param edges [T, B+1], grad edges [T, B+1]) on device
        self._summarize_jit = None
        self._pending: list[tuple[int, Any, Any, dict]] = []
        self._host: list[tuple[int, dict, float, dict]] = []

    # -- summaries -------------------------------------------------------------------------
    def _start(self, params, grads) -> None:
        import jax
        import jax.numpy as jnp

        named = _named_leaves(params)
        self.names = [n for n, _ in named]
        host_p = [np.asarray(jax.device_get(leaf), np.float32).ravel() for _, leaf in named]
        host_g = [np.asarray(jax.device_get(leaf), np.float32).ravel() for _, leaf in _named_leaves(grads)]
        self._edges = (jnp.asarray(np.stack([_edges(v, self.bins) for v in host_p])),
                       jnp.asarray(np.stack([_edges(v, self.bins) for v in host_g])))
        self._summarize_jit = jax.jit(self.summarize)

    def summarize(self, params, grads, updates=None) -> dict:
        """Per-tensor summaries as arrays [T] (histograms [T, bins]); pure, so it can be jitted
        inside a training step. Needs the edges of a first `record` (or `start`) call."""
        import jax.numpy as jnp

        if self._edges is None:
            raise RuntimeError("call record() (or start(params, grads)) once before summarize()")
        p_leaves = [leaf for _, leaf in _named_leaves(params)]
        g_leaves = [leaf for _, leaf in _named_leaves(grads)]
        u_leaves = [leaf for _, leaf in _named_leaves(updates)] if updates is not None else None
        p_edges, g_edges = self._edges
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

    def start(self, params, grads) -> None:
        """Fix the tensor list and the histogram edges (record() does this on its first call)."""
        if self._edges is None:
            self._start(params, grads)

    # -- recording -------------------------------------------------------------------------
    def record(self, step: int, params, grads, updates=None, loss=None, metrics: Mapping[str, Any] | None = None):
        """Summarise this step (if step % every == 0); nothing waits for the device."""
        if step % self.every:
            return
        self.start(params, grads)
        self.append(step, self._summarize_jit(params, grads, updates), loss, metrics)

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
        p_edges, g_edges = jax.device_get(self._edges)
        out = {
            "steps": np.array([h[0] for h in self._host], np.int64),
            "loss": np.array([h[2] for h in self._host], np.float32),
            "names": np.array(self.names),
            "param_edges": np.asarray(p_edges, np.float32), "grad_edges": np.asarray(g_edges, np.float32),
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
    """Histogram counts over fixed edges; values outside fall into the end bins (clipped)."""
    import jax.numpy as jnp

    bins = edges.shape[0] - 1
    idx = jnp.clip(jnp.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    idx = jnp.where(jnp.isfinite(x), idx, bins)  # NaN/Inf: an extra bin, dropped below
    return jnp.bincount(idx, length=bins + 1)[:bins].astype(jnp.uint32)
