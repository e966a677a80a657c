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
    assert "Integrated Gradients completeness" in result.text and "within the 1% tolerance" in result.text
    assert all(part in result.text for part in ("Top connections", "Expanded weights", "Weight factors"))


def test_credit_demo_tabular_saliency_and_bias_render(tmp_path):
    out = tmp_path / "credit.html"
    assert main(["demo", "credit", "-o", str(out), "-q", "--sections", "overview,saliency,bias"]) == 0
    result = open_report(out)
    assert result.console_errors == [] and result.page_errors == []
    assert result.n_plots >= 6 and result.n_rendered == result.n_plots  # feature shares, 4 strips, bias shares
    # The planted dependence: the sensitive feature tops the feature table (ranked by IG).
    assert re.search(r"\ngroup\s+1\s", result.text), result.text[-2000:]


def test_neuron_map_colour_switch_and_linked_views(tmp_path):
    """Two clear groups of units: the cluster colouring exists and the sidebar switch applies it."""
    import numpy as np

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (2, 24))
    units = np.concatenate([centres[0] + 0.05 * rng.normal(size=(30, 24)),
                            centres[1] + 0.05 * rng.normal(size=(30, 24))]).astype(np.float32)
    weights = tmp_path / "two_groups.npz"
    np.savez(weights, **{"features.weight": units, "head.weight": rng.normal(size=(10, 60)).astype(np.float32)})
    out = tmp_path / "maps.html"
    assert main(["report", str(weights), "-o", str(out), "-q", "--sections", "overview,projections"]) == 0
    result = open_report(out)
    assert result.console_errors == [] and result.page_errors == []
    assert result.n_rendered == result.n_plots
    fields = [field for field, _ in result.map_colours]
    assert len(fields) == 6 and set(fields) == {"c_cluster"}  # PCA, UMAP and t-SNE of both layers
    assert [n for _, n in result.map_colours] == [2, 2, 2, 1, 1, 1]  # two groups found; head: none


XSS_NAMES = ("<img src=x onerror=alert(1)>.weight", "</script><script>alert(2)</script>",
             '"><svg onload=alert(3)>', "javascript:alert(4)", "{{7*7}}<b onmouseover=alert(5)>b</b>")


def test_hostile_tensor_names_stay_text(tmp_path):
    """Names are XSS payloads: no dialog fires anywhere, and each name is shown as plain text."""
    from test_hostile import _raw_safetensors

    import numpy as np

    rng = np.random.default_rng(1)
    tensors = [(name, "F32", [16, 8], rng.normal(size=(16, 8)).astype(np.float32).tobytes()) for name in XSS_NAMES]
    path = tmp_path / "xss.safetensors"
    path.write_bytes(_raw_safetensors(tensors))
    out = tmp_path / "xss.html"
    assert main(["report", str(path), "-o", str(out), "-q"]) == 0
    result = open_report(out)
    assert result.dialogs == []
    assert result.console_errors == [] and result.page_errors == []
    assert result.n_rendered == result.n_plots
    for name in XSS_NAMES:
        assert name in result.text  # rendered as text, not markup
