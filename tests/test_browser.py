"""The demo report in real headless Chromium: offline, no errors, every lazy plot rendered."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser import available, open_report

from reportgen.cli import main

# In CI the browser is mandatory (.ci/run installs it); elsewhere the test skips without it.
pytestmark = pytest.mark.browser
if not available():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Chromium and Playwright for the browser tests")
    pytestmark = [pytest.mark.browser, pytest.mark.skip(reason="no Chromium/Playwright here")]


def test_demo_report_renders_offline(tmp_path):
    out = tmp_path / "demo.html"
    assert main(["demo", "-o", str(out), "-q"]) == 0
    shot = Path(os.environ.get("REPORTGEN_SCREENSHOT_DIR", tmp_path)) / "demo.png"
    result = open_report(out, screenshot=shot)
    assert result.console_errors == [] and result.page_errors == []
    assert [u for u in result.requests if not u.startswith("file://")] == []
    assert result.n_plots >= 2 and result.n_rendered == result.n_plots
    assert result.n_documents == result.n_plots
    assert shot.stat().st_size > 10_000
    assert re.search(r"rows? \d+.* cols? \d+.* w ≈ -?\d", result.heatmap_tooltip), result.heatmap_tooltip
    fields = result.log_field_after_toggle.split(",")
    assert len(fields) >= 8 and set(fields) == {"logc"}  # every histogram switched to log counts
    assert result.sidebar_ok
