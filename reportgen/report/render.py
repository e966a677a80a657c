"""The render stage: Report -> one self-contained HTML string, BokehJS inlined once."""
from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

from ..resources import resource_dir
from .figures import packed_item
from .structure import Report


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        autoescape=True,  # tensor names come from untrusted files
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


@functools.lru_cache(maxsize=1)
def _bokeh_js() -> str:
    from bokeh.resources import Resources

    # Only the core bundle: the report's figures use no widgets, tables or MathJax (~1.3 MB).
    return Resources(mode="inline", components=["bokeh"]).render_js()


def figures_of(report: Report) -> list:
    return [*(f for s in report.sections for f in (*s.figures, *(f for p in s.parts for f in p.figures))),
            *(f for t in report.tensors for f in t.figures)]


def pack_figures(report: Report, skip: tuple[type, ...] = ()) -> dict[str, str]:
    """Every figure's packed item except those of the `skip` types (for rendering ahead)."""
    return {f.id: packed_item(f) for f in figures_of(report) if not isinstance(f, skip)}


def render_html(report: Report, packed: dict[str, str] | None = None) -> str:
    """The page; `packed` holds figures already packed by pack_figures (same ids, same specs).

    Figures missing from `packed` are packed into it, so that rendering again reuses them.
    """
    from markupsafe import Markup

    env = _environment()
    packed = {} if packed is None else packed
    for f in figures_of(report):
        if f.id not in packed:
            packed[f.id] = packed_item(f)
    templates = resource_dir("templates")
    return env.get_template("report.html.j2").render(
        report=report, packed=packed,
        bokeh_js=Markup(_bokeh_js()),  # Bokeh's own bundle is the only markup marked safe
        css=Markup((templates / "report.css").read_text(encoding="utf-8")),
        page_js=Markup((templates / "report.js").read_text(encoding="utf-8")),
    )


def render_within(analysis, packed: dict[str, str], budget_mb: float, timings: bool = False) -> str:
    """The page, degraded by report.budget until it is at most budget_mb (0: no budget)."""
    import dataclasses

    from .budget import fit
    from .build import build_report

    last = [""]  # only the latest page is kept: a big model's page is tens of MB

    def page_bytes(a, changed: set[str]) -> int:
        for stale in changed:
            packed.pop(stale, None)
        last[0] = render_html(build_report(a, timings), packed)
        return len(last[0].encode("utf-8"))

    shown, note = fit(analysis, int(budget_mb * 1e6), page_bytes)
    if note is None:
        return last[0]
    # The note itself adds a few hundred bytes: negligible beside any budget above BokehJS.
    return render_html(build_report(dataclasses.replace(shown, notes=(note, *shown.notes)), timings), packed)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write beside the target and rename, so a crash never leaves half a file under its name."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a report is meant to be shared
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps_json(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=False, allow_nan=False, ensure_ascii=False) + "\n"
