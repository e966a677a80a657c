"""The Report: page structure built from an Analysis; strings already formatted, no markup."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    text: str
    sort: float | str | None = None  # value the table sorts by when it differs from the text
    href: str | None = None


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: tuple[bool, ...]  # right-align and sort numerically
    id: str = ""


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars: one per label, coloured by `groups` (a legend entry per group)."""

    id: str
    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    groups: tuple[str, ...]
    x_label: str
    hover_values: tuple[str, ...] = ()


Figure = BarChart  # later sections add their own figure specs here


@dataclass(frozen=True)
class AlertItem:
    severity: str
    kind: str
    tensor: str | None
    anchor: str | None
    message: str


@dataclass(frozen=True)
class TensorSection:
    anchor: str
    name: str
    role: str
    summary: str  # "conv · 3×3×1×16 · float32 · 160 params"
    facts: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    errors: tuple[str, ...]
    figures: tuple[Figure, ...] = ()


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    intro: str = ""
    figures: tuple[Figure, ...] = ()
    table: Table | None = None


@dataclass(frozen=True)
class Report:
    title: str
    identity: tuple[tuple[str, str], ...]
    cards: tuple[tuple[str, str], ...]
    alerts: tuple[AlertItem, ...]
    overview: Table
    sections: tuple[Section, ...]
    tensors: tuple[TensorSection, ...]
    methods: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = field(default=())
    footer: str = ""
