"""The CLI's on-disk caches (XLA kernels, Bokeh layout templates): where they live, and whether they are on."""
from __future__ import annotations

import os
from pathlib import Path

_root: Path | None = None


def enable() -> Path | None:
    """Turn the caches on for this process; returns their root, or None when off or unwritable.

    REPORTGEN_CACHE_DIR picks the root ("off" disables the caches), else
    $XDG_CACHE_HOME/reportgen (~/.cache/reportgen). XLA kernels go to jax/, templates to templates/.
    """
    global _root
    choice = os.environ.get("REPORTGEN_CACHE_DIR", "")
    if choice.lower() == "off":
        return None
    root = Path(choice) if choice else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reportgen"
    try:
        for sub in ("jax", "templates"):
            (root / sub).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home must not stop a report
    if not os.access(root / "templates", os.W_OK):
        return None
    _root = root
    return root


def directory(name: str) -> Path | None:
    """A cache subdirectory when the caches are on, else None."""
    return None if _root is None else _root / name
