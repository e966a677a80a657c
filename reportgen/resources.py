"""Locate shipped data (templates/, sample_models/) in a wheel install or a source checkout."""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The wheel force-includes the folder inside the package; a checkout has it at the top."""
    packaged = _PACKAGE / name
    return packaged if packaged.is_dir() else _PACKAGE.parent / name
