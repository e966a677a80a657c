"""Open a report in headless Chromium (Debian's package, driven by Playwright) and inspect it."""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = os.environ.get("REPORTGEN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
IDLE = "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents.every(d => d.is_idle)"


def available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()


@dataclass
class PageResult:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    n_plots: int = 0
    n_rendered: int = 0
    n_documents: int = 0
    heatmap_tooltip: str = ""
    log_field_after_toggle: str = ""
    sidebar_ok: bool = False
    map_colours: list = field(default_factory=list)  # per unit scatter: (colour field, cluster colours)
    dialogs: list[str] = field(default_factory=list)  # alert()/confirm() a payload managed to open
    text: str = ""  # the page's visible text


def open_report(path: Path, screenshot: Path | None = None, scroll_all: bool = True,
                timeout_ms: int = 30_000) -> PageResult:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    result = PageResult()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: m.type == "error" and result.console_errors.append(m.text))
        page.on("pageerror", lambda e: result.page_errors.append(str(e)))
        page.on("request", lambda r: result.requests.append(r.url))
        page.on("dialog", lambda d: (result.dialogs.append(d.message), d.dismiss()))
        page.goto(Path(path).resolve().as_uri())
        page.wait_for_function(IDLE, timeout=timeout_ms)
        if screenshot is not None:
            page.screenshot(path=str(screenshot))
        if scroll_all:  # walk every plot into view so each lazy one renders
            for el in page.query_selector_all(".plot"):
                el.scroll_into_view_if_needed()
                page.wait_for_timeout(30)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.plot')].every(e => e.dataset.state === 'rendered')"
                " && Bokeh.documents.every(d => d.is_idle)", timeout=timeout_ms)
        result.n_plots = page.eval_on_selector_all(".plot", "els => els.length")
        result.n_rendered = page.eval_on_selector_all(
            ".plot", "els => els.filter(e => e.dataset.state === 'rendered').length")
        result.n_documents = page.evaluate("() => Bokeh.documents.length")
        heat = page.query_selector("[id$='-heat'] canvas")
        if heat is not None:  # hover the middle of a heatmap and read Bokeh's tooltip
            heat.scroll_into_view_if_needed()
            box = heat.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
            tip = page.get_by_text(re.compile("w ≈")).first  # text locators pierce shadow DOM
            try:
                result.heatmap_tooltip = tip.text_content(timeout=3000) or ""
            except PlaywrightTimeout:
                result.heatmap_tooltip = ""
        if page.query_selector("#log-counts"):
            page.check("#log-counts")
            result.log_field_after_toggle = page.evaluate(
                "() => Bokeh.documents.map(d => d.get_model_by_name('hist')).filter(Boolean)"
                ".map(r => r.glyph.top.field).join(',')")
        if page.query_selector('input[name="map-colour"]'):
            page.check('input[name="map-colour"][value="cluster"]')
            result.map_colours = page.evaluate(
                "() => Bokeh.documents.flatMap(d => [...d.all_models]).filter(r => r.name === 'units')"
                ".map(r => [r.glyph.fill_color.field, new Set(r.data_source.data.c_cluster).size])")
        links = page.eval_on_selector_all(".sidebar a", "els => els.map(e => e.getAttribute('href'))")
        landed = []
        for href in links[:12]:
            page.click(f".sidebar a[href='{href}']")
            page.wait_for_timeout(50)
            landed.append(page.evaluate(
                "(h) => { const r = document.querySelector(h).getBoundingClientRect(); return r.top >= -2 && r.top < 120; }", href))
        result.sidebar_ok = bool(landed) and all(landed)
        result.text = page.inner_text("body")
        browser.close()
    return result
