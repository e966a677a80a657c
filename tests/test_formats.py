"""Release formats written by their real libraries (torch, onnx, h5py) and read back normalised."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import reportgen
from reportgen.analysis.units import unit_matrix
from reportgen.cli import main
from reportgen.errors import InputError

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
h5py = pytest.importorskip("h5py")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def conv_model(seed: int = 0) -> dict[str, np.ndarray]:
    """A small conv net in PyTorch's layout (OIHW, (out, in)): the reference every format encodes."""
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.normal(0, 0.3, s).astype(np.float32)  # noqa: E731
    return {"conv1.weight": f(6, 3, 3, 3), "conv1.bias": f(6), "conv2.weight": f(8, 6, 3, 3), "conv2.bias": f(8),
            "bn.weight": 1 + f(8), "bn.bias": f(8), "bn.running_mean": f(8), "bn.running_var": 1 + np.abs(f(8)),
            "fc.weight": f(10, 32), "fc.bias": f(10)}


# The same tensors under each format's names (PyTorch name -> format's name).
FLAX = {"conv1.weight": "params/Conv_0/kernel", "conv1.bias": "params/Conv_0/bias",
        "conv2.weight": "params/Conv_1/kernel", "conv2.bias": "params/Conv_1/bias",
        "bn.weight": "params/BatchNorm_0/scale", "bn.bias": "params/BatchNorm_0/bias",
        "bn.running_mean": "batch_stats/BatchNorm_0/mean", "bn.running_var": "batch_stats/BatchNorm_0/var",
        "fc.weight": "params/Dense_0/kernel", "fc.bias": "params/Dense_0/bias"}
KERAS = {"conv1.weight": "layers/conv2d/kernel", "conv1.bias": "layers/conv2d/bias",
         "conv2.weight": "layers/conv2d_1/kernel", "conv2.bias": "layers/conv2d_1/bias",
         "bn.weight": "layers/batch_normalization/gamma", "bn.bias": "layers/batch_normalization/beta",
         "bn.running_mean": "layers/batch_normalization/moving_mean",
         "bn.running_var": "layers/batch_normalization/moving_variance",
         "fc.weight": "layers/dense/kernel", "fc.bias": "layers/dense/bias"}
ONNX = {k: k for k in conv_model()}  # the initializers keep their (meaningful) names


def to_flax_layout(name: str, a: np.ndarray) -> np.ndarray:
    if a.ndim == 4:
        return a.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    return a.T if a.ndim == 2 else a


def write_torch(path, arrays, zip_format=True):
    torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, path, _use_new_zipfile_serialization=zip_format)


def write_flax(path, arrays):
    from flax import serialization

    tree: dict = {}
    for name, a in arrays.items():
        collection, layer, leaf = FLAX[name].split("/")
        tree.setdefault(collection, {}).setdefault(layer, {})[leaf] = to_flax_layout(name, a)
    path.write_bytes(serialization.to_bytes(tree))


def write_keras3(path, arrays):
    with h5py.File(path, "w") as f:
        for name, a in arrays.items():
            layer = KERAS[name].rsplit("/", 1)[0]
            group = f.require_group(f"{layer}/vars")
            group.create_dataset(str(len(group)), data=to_flax_layout(name, a))
        f.create_group("optimizer/vars").create_dataset("0", data=np.zeros(3, np.float32))  # must be skipped


def write_onnx(path, arrays, gemm_trans_b=0):
    a = arrays
    fc = a["fc.weight"] if gemm_trans_b else a["fc.weight"].T  # transB=0 stores (in, out)
    inits = [numpy_helper.from_array(v, k) for k, v in a.items() if not k.startswith("fc.")]
    inits += [numpy_helper.from_array(np.ascontiguousarray(fc), "fc.weight"), numpy_helper.from_array(a["fc.bias"], "fc.bias")]
    nodes = [helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["h1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["h2"], name="conv2", strides=[2, 2]),
             helper.make_node("BatchNormalization", ["h2", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
                              ["h3"], name="bn"),
             helper.make_node("Flatten", ["h3"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], name="fc", transB=gemm_trans_b)]
    graph = helper.make_graph(nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.mark.parametrize("zip_format", [True, False])
def test_pytorch_state_dict_zip_and_legacy(tmp_path, zip_format):
    write_torch(tmp_path / "m.pt", conv_model(), zip_format)
    w = reportgen.load(tmp_path / "m.pt")
    assert w.format == "pytorch" and w.layout == "pytorch"
    assert [r.name for r in w] == list(conv_model())
    assert {r.name: r.role for r in w}["conv1.weight"] == "conv"
    for name, arr in conv_model().items():
        np.testing.assert_array_equal(w[name].load(), arr)


def test_pytorch_wrapped_checkpoint_and_bfloat16(tmp_path):
    state = {k: torch.from_numpy(v) for k, v in conv_model().items()}
    state["fc.weight"] = state["fc.weight"].to(torch.bfloat16)
    torch.save({"epoch": 3, "state_dict": state, "lr": 0.1}, tmp_path / "ckpt.pth")
    w = reportgen.load(tmp_path / "ckpt.pth")
    assert w["fc.weight"].dtype == "bfloat16"
    np.testing.assert_array_equal(w["fc.weight"].load().astype(np.float32),
                                  state["fc.weight"].float().numpy())


def test_pytorch_sharded_bin_index(tmp_path):
    arrays = conv_model()
    names = list(arrays)
    shards = {"pytorch_model-00001-of-00002.bin": names[:5], "pytorch_model-00002-of-00002.bin": names[5:]}
    for shard, keys in shards.items():
        write_torch(tmp_path / shard, {k: arrays[k] for k in keys})
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps(
        {"weight_map": {k: shard for shard, keys in shards.items() for k in keys}}))
    for source in (tmp_path, tmp_path / "pytorch_model.bin.index.json"):
        w = reportgen.load(source)
        assert w.format == "pytorch-sharded" and [r.name for r in w] == names
        np.testing.assert_array_equal(w["fc.weight"].load(), arrays["fc.weight"])


def test_pytorch_non_tensor_payload_is_refused_and_never_run(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"w": torch.zeros(3), "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="refused: the file holds Python objects other than tensors"):
        reportgen.load(tmp_path / "evil.pt")
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path / "evil.pt"), "-o", str(out), "-q"]) == 2
    assert "refused" in capsys.readouterr().err
    assert not marker.exists() and not out.exists()


@pytest.mark.parametrize("trans_b", [0, 1])
def test_onnx_initializers_normalised_by_consuming_op(tmp_path, trans_b):
    write_onnx(tmp_path / "m.onnx", conv_model(), gemm_trans_b=trans_b)
    w = reportgen.load(tmp_path / "m.onnx")
    assert w.format == "onnx" and w.layout == "pytorch"
    for name, arr in conv_model().items():
        np.testing.assert_array_equal(w[name].load(), arr)  # Gemm transB=0 comes back as (out, in)
    assert ("transposed" in w["fc.weight"].note) == (trans_b == 0)


def test_onnx_constant_nodes_anonymous_names_scalars_and_matmul(tmp_path):
    rng = np.random.default_rng(1)
    w_in_out = rng.normal(size=(5, 7)).astype(np.float32)
    bias = rng.normal(size=7).astype(np.float32)
    nodes = [helper.make_node("Constant", [], ["Constant_12_output_0"], value=numpy_helper.from_array(w_in_out)),
             helper.make_node("MatMul", ["x", "Constant_12_output_0"], ["h"], name="proj"),
             helper.make_node("Add", ["h", "onnx::Add_7"], ["y0"], name="proj_add"),
             helper.make_node("Mul", ["y0", "alpha"], ["y"], name="scale")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 7])],
                              [numpy_helper.from_array(bias, "onnx::Add_7"),
                               numpy_helper.from_array(np.array(0.5, np.float32), "alpha")])
    onnx.save(helper.make_model(graph), str(tmp_path / "g.onnx"))
    w = reportgen.load(tmp_path / "g.onnx")
    names = {r.name: r for r in w}
    assert set(names) == {"proj.weight", "proj_add.bias", "alpha"}
    np.testing.assert_array_equal(names["proj.weight"].load(), w_in_out.T)  # (out, in)
    assert names["proj.weight"].role == "dense" and "MatMul" in names["proj.weight"].note
    assert names["alpha"].shape == () and names["alpha"].role == "other"
    np.testing.assert_array_equal(names["proj_add.bias"].load(), bias)


def test_onnx_external_data_only_inside_the_model_directory(tmp_path):
    from onnx.external_data_helper import convert_model_to_external_data

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    write_onnx(model_dir / "m.onnx", conv_model())
    model = onnx.load(str(model_dir / "m.onnx"))
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save(model, str(model_dir / "ext.onnx"))
    w = reportgen.load(model_dir / "ext.onnx")
    np.testing.assert_array_equal(w["conv2.weight"].load(), conv_model()["conv2.weight"])
    # The same graph pointing outside its directory is refused before anything is read.
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../secret.bin"
    (tmp_path / "secret.bin").write_bytes((model_dir / "weights.bin").read_bytes())
    onnx.save(model, str(model_dir / "escape.onnx"), save_as_external_data=False)
    with pytest.raises(InputError, match="outside the model's directory"):
        reportgen.load(model_dir / "escape.onnx")


def test_keras3_weights_h5_and_legacy_h5(tmp_path):
    write_keras3(tmp_path / "m.weights.h5", conv_model())
    w = reportgen.load(tmp_path / "m.weights.h5")
    assert w.format == "keras" and w.layout == "flax"
    assert {r.name for r in w} == set(KERAS.values())  # numbered vars named; optimizer skipped
    for name, arr in conv_model().items():
        np.testing.assert_array_equal(w[KERAS[name]].load(), to_flax_layout(name, arr))
    assert w["layers/batch_normalization/gamma"].role == "norm" and w["layers/conv2d/kernel"].role == "conv"

    with h5py.File(tmp_path / "legacy.h5", "w") as f:  # Keras 2 model.save(): weights + optimizer
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"dense"]
        layer = g.create_group("dense")
        layer.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        layer.create_dataset("dense/kernel:0", data=conv_model()["fc.weight"].T)
        layer.create_dataset("dense/bias:0", data=conv_model()["fc.bias"])
        f.create_group("optimizer_weights").create_dataset("Adam/iter:0", data=np.int64(7))
    w = reportgen.load(tmp_path / "legacy.h5")
    assert w.format == "keras-h5" and [r.name for r in w] == ["dense/bias", "dense/kernel"]
    np.testing.assert_array_equal(unit_matrix(w["dense/kernel"].load(), "dense", w.layout), conv_model()["fc.weight"])


def test_same_model_in_four_formats_gives_identical_sidecar_numbers(tmp_path):
    arrays = conv_model()
    write_flax(tmp_path / "m.msgpack", arrays)
    write_torch(tmp_path / "m.pt", arrays)
    write_onnx(tmp_path / "m.onnx", arrays)
    write_keras3(tmp_path / "m.weights.h5", arrays)
    sidecars = {}
    for name, mapping in (("m.msgpack", FLAX), ("m.pt", ONNX), ("m.onnx", ONNX), ("m.weights.h5", KERAS)):
        out = tmp_path / f"{name}.json"
        assert main(["report", str(tmp_path / name), "-o", str(tmp_path / f"{name}.html"), "--json", str(out),
                     "-q", "--sections", "overview,stats,spectral"]) == 0
        by_name = {t["name"]: t for t in json.loads(out.read_text())["tensors"]}
        sidecars[name] = {k: by_name[v] for k, v in mapping.items()}
    ref = sidecars["m.pt"]
    for name, tensors in sidecars.items():
        for key, t in tensors.items():
            assert t["role"] == ref[key]["role"], (name, key)
            for stat in ("mean", "std", "min", "max", "abs_mean", "rms", "frobenius_norm", "kurtosis", "sparsity"):
                assert t["stats"][stat] == pytest.approx(ref[key]["stats"][stat], rel=1e-5, abs=1e-7), (name, key, stat)
            assert (t["spectral"] is None) == (ref[key]["spectral"] is None), (name, key)
            if t["spectral"] is not None:
                for metric in ("alpha", "log_norm", "log_spectral_norm", "stable_rank", "num_evals", "D"):
                    assert t["spectral"][metric] == pytest.approx(ref[key]["spectral"][metric], rel=1e-4), (name, key, metric)
    assert sum(t["spectral"] is not None for t in ref.values()) == 3  # both convs and the dense layer


@pytest.mark.parametrize("module, extra, make", [
    ("torch", "torch", lambda p: write_torch(p / "m.pt", conv_model())),
    ("onnx", "onnx", lambda p: write_onnx(p / "m.onnx", conv_model())),
    ("h5py", "keras", lambda p: write_keras3(p / "m.weights.h5", conv_model())),
])
def test_missing_extra_exits_2_naming_it(tmp_path, capsys, monkeypatch, module, extra, make):
    make(tmp_path)
    path = next(tmp_path.iterdir())
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    assert main(["report", str(path), "-o", str(tmp_path / "r.html"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"needs the optional '{extra}' extra" in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()
