"""Hostile and malformed inputs: each gives exit 2 with a clear line and no output, or a report with a note."""
from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest

from reportgen.cli import main


def _st(header: dict | bytes | str, data: bytes = b"", length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


_T = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


# (case id, file name, content or None for a directory, expected words in the one-line error)
CORPUS = [
    ("empty file", "m.safetensors", b"", "unknown weights format"),
    ("seven bytes", "m.safetensors", b"\x01\x02\x03\x04\x05\x06\x07", "unknown weights format"),
    ("text", "m.safetensors", b"hello, these are not weights", "unknown weights format"),
    ("header longer than file", "m.safetensors", _st({"a": _T}, bytes(16), length=10**6), "unknown weights format"),
    ("header length 2^63", "m.safetensors", struct.pack("<Q", 2**63) + b"{}", "unknown weights format"),
    ("garbage json", "m.safetensors", _st(b'{"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]'),
     "corrupt"),
    ("json list", "m.safetensors", _st(b'[1, 2, 3]'), "unknown weights format"),
    ("unknown dtype", "m.safetensors", _st({"a": {**_T, "dtype": "F13"}}, bytes(16)), "dtype"),
    ("negative shape", "m.safetensors", _st({"a": {**_T, "shape": [-2, 2]}}, bytes(16)), "shape"),
    ("shape not a list", "m.safetensors", _st({"a": {**_T, "shape": "2x2"}}, bytes(16)), "corrupt safetensors entry"),
    ("reversed offsets", "m.safetensors", _st({"a": {**_T, "data_offsets": [16, 0]}}, bytes(16)), "byte range"),
    ("offsets past the end", "m.safetensors", _st({"a": {**_T, "data_offsets": [0, 4096]}}, bytes(16)), "byte range"),
    ("offsets not ints", "m.safetensors", _st({"a": {**_T, "data_offsets": ["0", "16"]}}, bytes(16)), "non-integer"),
    ("overlapping tensors", "m.safetensors",
     _st({"a": _T, "b": {**_T, "data_offsets": [8, 24]}}, bytes(24)), "overlap"),
    ("shape vs bytes", "m.safetensors", _st({"a": {**_T, "data_offsets": [0, 8]}}, bytes(16)), "byte range"),
    ("truncated data", "m.safetensors", _st({"a": _T}, bytes(9)), "byte range"),
    ("index not json", "model.safetensors.index.json", b"{not json", "index"),
    ("index without weight_map", "model.safetensors.index.json", b'{"metadata": {}}', "weight_map"),
    ("index names a missing shard", "model.safetensors.index.json",
     json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}}).encode(), "missing"),
    ("index escapes the directory", "model.safetensors.index.json",
     json.dumps({"weight_map": {"a": "../../etc/passwd"}}).encode(), "outside"),
    ("msgpack garbage", "m.msgpack", b"\x82\xa6params\xc1\xc1\xc1", "msgpack"),
    ("msgpack truncated", "m.msgpack", b"\x81\xa6params\x81\xa6kernel\xc7\x10", "msgpack"),
    ("msgpack not a mapping", "m.msgpack", b"\x93\x01\x02\x03", "msgpack"),
    ("npz with pickled objects", "m.npz", _zip({"a.npy": _npy(np.array([{"x": 1}], dtype=object))}), "pickle"),
    ("zip that is no npz", "m.npz", _zip({"readme.txt": b"hello"}), "npz"),
    ("truncated npz", "m.npz", _zip({"a.npy": _npy(np.ones((64, 64), np.float32))})[:200], "npz"),
    ("hdf5 (keras)", "m.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64), "not a readable hdf5 file"),
    ("pytorch zip", "m.pt", _zip({"archive/data.pkl": b"\x80\x02}q\x00."}), "not a readable pytorch file"),
    ("pytorch legacy", "m.pth", b"\x80\x02" + bytes(30), "not a readable pytorch file"),
    ("onnx garbage", "m.onnx", b"\x08\x07\x12\xff\xff\xff" + bytes(20), "not a readable onnx file"),
    ("empty directory", "ckpt", None, "neither an orbax checkpoint nor a sharded safetensors"),
]


@pytest.mark.parametrize("case, name, content, words", CORPUS, ids=[c[0] for c in CORPUS])
def test_malformed_input_exits_2_with_its_message_and_no_output(tmp_path, capsys, case, name, content, words):
    src = tmp_path / "in"
    src.mkdir()
    path = src / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["report", str(path), "-o", str(out / "r.html"), "--json", str(out / "r.json"), "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("reportgen: error:") and "Traceback" not in err
    assert words in err.lower(), err
    assert list(out.iterdir()) == []  # no report, no sidecar, no temp file


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25


def _raw_safetensors(tensors: list[tuple[str, str, list[int], bytes]]) -> bytes:
    """Hand-written safetensors (names the safetensors package would refuse: empty, duplicate)."""
    entries, data = [], b""
    for name, dtype, shape, raw in tensors:
        entries.append(f'{json.dumps(name)}: {{"dtype": "{dtype}", "shape": {json.dumps(shape)}, '
                       f'"data_offsets": [{len(data)}, {len(data) + len(raw)}]}}')
        data += raw
    return _st("{" + ", ".join(entries) + "}", data)


def test_unusual_but_legal_content_is_reported_with_notes(tmp_path):
    f32 = lambda *shape: np.random.default_rng(0).normal(size=shape).astype(np.float32).tobytes()  # noqa: E731
    long_name = "layer." * 300 + "weight"
    tensors = [
        ("scalar", "F32", [], f32()), ("empty.weight", "F32", [0, 4], b""),
        ("five.d.weight", "F32", [2, 2, 2, 2, 2], f32(2, 2, 2, 2, 2)),
        ("counts", "I64", [3], np.arange(3).tobytes()), ("mask", "BOOL", [4], bytes([1, 0, 1, 1])),
        ("half.weight", "F16", [4, 4], np.ones((4, 4), np.float16).tobytes()),
        ("brain.weight", "BF16", [4, 4], bytes(32)), ("eight.weight", "F8_E4M3", [4, 4], bytes(16)),
        ("", "F32", [2], f32(2)), ("dup", "F32", [2], f32(2)), ("dup", "F32", [3], f32(3)),
        (long_name, "F32", [2], f32(2)), ("Gewichte.über.Schicht.权重", "F32", [16, 8], f32(16, 8)),
        ("nan.weight", "F32", [2, 2], np.array([[np.nan, 1], [np.inf, 2]], np.float32).tobytes()),
    ]
    path = tmp_path / "odd.safetensors"
    path.write_bytes(_raw_safetensors(tensors))
    side = tmp_path / "r.json"
    assert main(["report", str(path), "-o", str(tmp_path / "r.html"), "--json", str(side), "-q"]) == 0
    data = json.loads(side.read_text())
    by = {t["name"]: t for t in data["tensors"]}
    dups = [t for t in data["tensors"] if t["name"] == "dup"]
    assert [t["shape"] for t in dups] == [[2], [3]]  # both kept, in file order
    assert all("2 tensors in the file share this name" in t["notes"][-1] for t in dups)
    assert "Gewichte.über.Schicht.权重" in by and long_name in by and "" in by
    assert by["empty.weight"]["notes"] == ["empty tensor: nothing to analyse"]
    assert by["five.d.weight"]["stats"] is not None
    assert any("int64 tensor" in n for n in by["counts"]["notes"])
    assert by["eight.weight"]["dtype"] == "float8_e4m3fn" and by["brain.weight"]["stats"]["max"] == 0
    assert {(a["kind"], a["tensor"]) for a in data["alerts"]} >= {("non_finite", "nan.weight")}
    html = (tmp_path / "r.html").read_text()
    assert "Gewichte.über.Schicht.权重" in html


def test_no_network_connection_is_ever_opened(tmp_path, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network connection attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert main(["demo", "credit", "-o", str(tmp_path / "r.html"), "-q"]) == 0


def test_killed_mid_render_leaves_no_report(tmp_path):
    """SIGTERM while the HTML is being rendered: the run stops and nothing is left under the name."""
    import os
    import signal
    import subprocess
    import sys

    rng = np.random.default_rng(2)
    np.savez(tmp_path / "many.npz", **{f"layer{i}.weight": rng.normal(size=(48, 32)).astype(np.float32)
                                       for i in range(60)})
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from reportgen.cli import entrypoint; entrypoint()",
                             "report", str(tmp_path / "many.npz"),
                             "-o", str(out / "r.html"), "--json", str(out / "r.json"),
                             "--sections", "overview,stats,heatmaps"],
                            stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:
        if line.startswith("reportgen: rendering HTML"):
            proc.send_signal(signal.SIGTERM)
            break
    proc.communicate(timeout=120)
    assert proc.returncode not in (0, None)
    assert list(out.iterdir()) == []  # no report, no sidecar, no temp file
