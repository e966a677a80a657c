"""Release artefacts: byte-identical reports from the same input, timings only when asked, the model card."""
from __future__ import annotations

import json
import re

import numpy as np

from reportgen.cli import main


def _run(tmp_path, tag: str, *extra: str):
    paths = [tmp_path / f"{tag}.html", tmp_path / f"{tag}.json", tmp_path / f"{tag}.md"]
    assert main(["demo", "credit", "-o", str(paths[0]), "--json", str(paths[1]), "--model-card", str(paths[2]),
                 "-q", *extra]) == 0
    return [p.read_bytes() for p in paths]


def test_two_runs_give_byte_identical_html_json_and_card(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = _run(tmp_path / "a", "r"), _run(tmp_path / "b", "r")
    assert first[0] == second[0]  # HTML: Bokeh ids, neuron maps, saliency and bias numbers included
    assert first[1] == second[1] and first[2] == second[2]
    assert json.loads(first[1])["timings"] is None
    timed = _run(tmp_path / "a", "t", "--timings")
    assert json.loads(timed[1])["timings"]["total_s"] > 0 and b"compilations" in timed[0]
    assert b"compilations" not in first[0]


def test_model_card_summarises_and_escapes_untrusted_names(tmp_path):
    card = _run(tmp_path, "c")[2].decode()
    assert card.startswith("## Model Examination")
    assert "Bias audit | 'approved' rate gap between groups 48%; flagged: group" in card
    assert "Circuits | 3 layers, expanded weights for 5 layer pairs; 3-factor NMF explains 65% (Dense\\_0)" in card
    assert "Sensitive feature drives predictions" in card and "c.html" in card
    # A hostile tensor name can neither inject HTML nor break the table.
    bad = "evil<img src=x onerror=alert(1)>|`x`"
    np.savez(tmp_path / "w.npz", **{bad: np.zeros((4, 4), np.float32)})
    out = tmp_path / "w.md"
    assert main(["report", str(tmp_path / "w.npz"), "-o", str(tmp_path / "w.html"), "--model-card", str(out), "-q"]) == 0
    text = out.read_text()
    assert "all-zero" in text.lower() or "All-zero" in text
    line = next(ln for ln in text.splitlines() if "evil" in ln)
    assert re.search(r"(?<!\\)[<>|`]", line) is None, line  # every one escaped
    assert "evil\\<img src=x onerror=alert(1)\\>\\|\\`x\\`" in line
