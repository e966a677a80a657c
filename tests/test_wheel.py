"""The built wheel ships templates and sample models, so `pip install .` gives a working demo."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_templates_and_samples(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("reportgen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("reportgen/templates/report.html.j2", "reportgen/templates/report.css",
                     "reportgen/templates/report.js", "reportgen/sample_models/digits_cnn/model.py",
                     "reportgen/sample_models/digits_cnn/weights.msgpack",
                     "reportgen/sample_models/credit_mlp/weights_planted.safetensors",
                     "reportgen/sample_models/credit_mlp/weights_control.safetensors",
                     "reportgen/cli.py", "reportgen/io/safetensors_io.py"):
        assert required in names, required
    assert not any("__pycache__" in n for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "reportgen = reportgen.cli:entrypoint" in zipfile.ZipFile(wheel).read(entry).decode()
