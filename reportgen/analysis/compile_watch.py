"""Counts XLA compilations (and their time) so timings report them and tests can assert none."""
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
