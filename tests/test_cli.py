"""The CLI end to end: every input format, the JSON sidecar, exit codes, no partial output."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
from conftest import flatten, flax_style_tree, torch_style_arrays

from reportgen.cli import main


def _write_all_formats(tmp_path):
    import orbax.checkpoint as ocp
    from flax import serialization
    from safetensors.numpy import save_file

    save_file(torch_style_arrays(), str(tmp_path / "bert.safetensors"))
    tree = flax_style_tree()
    (tmp_path / "flax.msgpack").write_bytes(serialization.to_bytes(tree))
    np.savez(tmp_path / "w.npz", **flatten(tree))
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save((tmp_path / "orbax").resolve(), tree)
    checkpointer.wait_until_finished()
    return {"bert.safetensors": torch_style_arrays(), "flax.msgpack": flatten(tree),
            "w.npz": flatten(tree), "orbax": flatten(tree)}


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "data", "srcset", "action")]


def external_refs(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return [r for r in parser.refs if r.strip().lower().startswith(("http:", "https:", "//"))]


@pytest.mark.parametrize("name, layout, fmt", [
    ("bert.safetensors", "pytorch", "safetensors"), ("flax.msgpack", "flax", "flax-msgpack"),
    ("w.npz", "flax", "npz"), ("orbax", "flax", "orbax")])
def test_report_every_format(tmp_path, capsys, name, layout, fmt):
    expected = _write_all_formats(tmp_path)[name]
    out, side = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["report", str(tmp_path / name), "-o", str(out), "--json", str(side)]) == 0
    data = json.loads(side.read_text())
    assert data["model"]["format"] == fmt and data["model"]["layout"] == layout
    assert data["model"]["n_tensors"] == len(expected)
    assert {t["name"]: (tuple(t["shape"]), t["dtype"]) for t in data["tensors"]} == {
        k: (v.shape, v.dtype.name) for k, v in expected.items()}
    assert all(t["role"] in ("dense", "conv", "embedding", "norm", "bias", "other") for t in data["tensors"])
    for t in data["tensors"]:
        np.testing.assert_allclose(t["stats"]["mean"], expected[t["name"]].mean(), rtol=1e-4, atol=1e-7)
    html = out.read_text()
    assert external_refs(html) == []
    for tensor_name in expected:
        assert tensor_name in html
    assert "reading weights" in capsys.readouterr().err  # progress goes to stderr


def test_layout_override(tmp_path):
    from safetensors.numpy import save_file

    save_file({"a": np.ones((3, 4), np.float32)}, str(tmp_path / "m.safetensors"))
    side = tmp_path / "m.json"
    assert main(["report", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "m.html"),
                 "--json", str(side), "--layout", "flax", "-q"]) == 0
    assert json.loads(side.read_text())["model"]["layout"] == "flax"


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x89HDF\r\n\x1a\n...."])
def test_bad_input_exits_2_with_one_line_and_no_file(tmp_path, capsys, content):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    out = tmp_path / "r.html"
    assert main(["report", str(bad), "-o", str(out), "--json", str(tmp_path / "r.json"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("reportgen: error:") and "Traceback" not in err
    assert str(bad) in err
    assert list(tmp_path.iterdir()) == [bad]  # no report, no sidecar, no temp file


@pytest.mark.parametrize("argv, needle", [
    (["report", "/no/such/model.safetensors"], "no such file"),
    (["report", "{model}", "-o", "/no/such/dir/r.html"], "does not exist"),
    (["report", "{model}", "--sections", "stats,bogus"], "unknown section"),
    (["report", "{model}", "--layout", "sideways"], "invalid choice"),
    (["demo", "nonexistent"], "invalid choice"),
    (["report", "{model}", "--max-mb", "-1"], "max_report_mb must be 0"),
    (["report", "{model}", "--device", "tpu"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2(tmp_path, capsys, argv, needle):
    from safetensors.numpy import save_file

    save_file({"a.weight": np.ones((2, 2), np.float32)}, str(tmp_path / "m.safetensors"))
    argv = [a.replace("{model}", str(tmp_path / "m.safetensors")) for a in argv]
    assert main(argv + ["-q"] if argv[0] in ("report", "demo") else argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_device_flag(tmp_path, capsys):
    import jax
    from safetensors.numpy import save_file

    save_file({"a.weight": np.ones((8, 8), np.float32)}, str(tmp_path / "m.safetensors"))
    side = tmp_path / "r.json"
    assert main(["report", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "r.html"), "--json", str(side),
                 "--device", "cpu", "--timings", "-q", "--sections", "stats"]) == 0
    assert json.loads(side.read_text())["timings"]["device"] == "cpu"
    assert "on cpu" in (tmp_path / "r.html").read_text()
    if not any(d.platform == "gpu" for d in jax.devices()):
        out = tmp_path / "g.html"
        capsys.readouterr()
        assert main(["report", str(tmp_path / "m.safetensors"), "-o", str(out), "--device", "gpu", "-q"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "JAX sees no GPU here (it has: cpu)" in err and not out.exists()
    jax.config.update("jax_default_device", None)


def test_fail_on_error_exits_1_and_still_writes(tmp_path):
    from safetensors.numpy import save_file

    w = np.ones((4, 4), np.float32)
    w[1, 2] = np.nan
    save_file({"bad.weight": w}, str(tmp_path / "m.safetensors"))
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "m.safetensors"), "-o", str(out), "-q", "--fail-on", "error"]) == 1
    assert out.exists()
    assert main(["report", str(tmp_path / "m.safetensors"), "-o", str(out), "-q"]) == 0


def test_config_file(tmp_path):
    from safetensors.numpy import save_file

    save_file({"a.weight": np.ones((2, 2), np.float32)}, str(tmp_path / "m.safetensors"))
    (tmp_path / "reportgen.toml").write_text('[reportgen]\nsections = ["overview"]\n')
    side = tmp_path / "r.json"
    assert main(["report", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "r.html"), "--json",
                 str(side), "--config", str(tmp_path / "reportgen.toml"), "-q"]) == 0
    data = json.loads(side.read_text())
    assert data["sections"] == ["overview"] and data["tensors"][0]["stats"] is None
    (tmp_path / "bad.toml").write_text("colour = 'blue'\n")
    assert main(["report", str(tmp_path / "m.safetensors"), "--config", str(tmp_path / "bad.toml"), "-q"]) == 2


@pytest.mark.parametrize("target", ["digits", "credit"])
def test_demo(tmp_path, target):
    out, side = tmp_path / "demo.html", tmp_path / "demo.json"
    assert main(["demo", target, "-o", str(out), "--json", str(side), "-q"]) == 0
    html = out.read_text()
    assert external_refs(html) == []
    assert "<script src" not in html and html.count('class="plot"') >= 2  # inlined, lazy plots
    data = json.loads(side.read_text())
    assert data["model"]["n_params"] == sum(int(np.prod(t["shape"])) for t in data["tensors"])
    assert all(t["stats"] is not None for t in data["tensors"])
