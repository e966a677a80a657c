"""Number formatting, in one place: every number the page shows passes through here."""
from __future__ import annotations

import math


def num(x: float | None, digits: int = 4) -> str:
    """Significant-digit formatting; scientific only where fixed notation would mislead."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    mag = abs(x)
    if mag >= 1e6 or mag < 1e-3:
        return f"{x:.{digits - 1}e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    return f"{x:.{digits}g}"


def integer(n: int) -> str:
    return f"{n:,}"


def count(n: int, noun: str) -> str:
    """3 errors, 1 warning: the noun pluralised with a plain s."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def compact(n: float) -> str:
    """1234567 -> 1.23M; for parameter counts in cards and axes."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:g}"


def nbytes(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def percent(x: float) -> str:
    if x == 0:
        return "0%"
    return f"{100 * x:.3g}%" if x >= 1e-4 else "<0.01%"


def shape(s: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in s) if s else "scalar"


def seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"
