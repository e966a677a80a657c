"""XLA compilations: counted (for timings and the no-recompile tests) and cached on disk for the CLI."""
from __future__ import annotations

import threading

_EVENT = "/jax/core/compile/backend_compile_duration"
_lock = threading.Lock()
_count = 0
_seconds = 0.0
_registered = False


def _listener(event: str, duration: float, **_kwargs) -> None:
    global _count, _seconds
    if event == _EVENT:
        with _lock:
            _count += 1
            _seconds += duration


def install() -> None:
    """Register the jax.monitoring listener once per process (listeners cannot be removed)."""
    global _registered
    with _lock:
        if _registered:
            return
        _registered = True
    from jax import monitoring

    monitoring.register_event_duration_secs_listener(_listener)


def snapshot() -> tuple[int, float]:
    """(compilations so far, seconds spent in them) since the listener was installed."""
    install()
    with _lock:
        return _count, _seconds


def use_disk_cache() -> str | None:
    """Keep compiled kernels on disk between CLI runs; returns the directory, or None when off.

    Later runs then skip XLA's backend compile (about 1.5 s of a BERT-mini spectral phase).
    A cache the user configured for jax already is used as it is.
    """
    import jax

    from .. import cache

    if jax.config.jax_compilation_cache_dir:
        cache.enable()  # the other caches still live under reportgen's own root
        return jax.config.jax_compilation_cache_dir
    root = cache.enable()
    if root is None:
        return None
    jax.config.update("jax_compilation_cache_dir", str(root / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # ours take 0.1-0.3 s each
    return str(root / "jax")
