"""Bias audit: the planted credit model is flagged and a named unit's removal narrows the gap; the control is not."""
from __future__ import annotations

import json

import numpy as np
import pytest

from reportgen.analysis import bias as b
from reportgen.analysis.bias_phase import bias_phase
from reportgen.cli import main
from reportgen.config import Config
from reportgen.errors import InputError
from reportgen.modelspec import check_spec
from reportgen.progress import Progress
from reportgen.resources import resource_dir
from reportgen.samples import import_file

QUIET = Progress(enabled=False)
TENSORS = ("params/Dense_0/kernel", "params/Dense_1/kernel", "params/Dense_2/kernel")


def _credit(variant: str):
    module = import_file(resource_dir("sample_models") / "credit_mlp" / "model.py", "reportgen_sample_credit_mlp")
    return module.spec(variant)


@pytest.fixture(scope="module")
def planted():
    spec = _credit("planted")
    return spec, bias_phase(spec, Config(), QUIET, TENSORS)


def _parity_gap(spec, params) -> float:
    approved = np.asarray(spec.apply_fn(params, spec.inputs)).argmax(1) == 1
    return abs(approved[spec.groups == 0].mean() - approved[spec.groups == 1].mean())


def test_planted_bias_is_flagged(planted):
    spec, a = planted
    assert a.flagged == ("group",) and a.sensitive == ("group",)
    assert a.sensitive_rank[0] <= 3 and a.flip_rate[0] > Config().bias_flip_threshold
    assert a.counterfactual == ("flip",)
    # Numbers recomputed here from the model's own predictions.
    assert a.parity_gap == pytest.approx(_parity_gap(spec, spec.params), abs=1e-12)
    x2 = spec.inputs.copy()
    values = np.unique(x2[:, 7])
    x2[:, 7] = np.where(spec.inputs[:, 7] == values[0], values[1], values[0])
    before = np.asarray(spec.apply_fn(spec.params, spec.inputs)).argmax(1) == 1
    after = np.asarray(spec.apply_fn(spec.params, x2)).argmax(1) == 1
    assert a.flip_rate[0] == pytest.approx(np.mean(before != after))
    assert sum(a.attribution_share) == pytest.approx(1.0, abs=1e-6)
    # The linearised weights of `group` to each output: the product of the three kernels (numpy).
    kernels = [np.asarray(spec.params[f"Dense_{i}"]["kernel"], np.float64) for i in range(3)]
    np.testing.assert_allclose(a.expanded[0], (kernels[0] @ kernels[1] @ kernels[2])[7], rtol=1e-5)


def test_a_named_unit_whose_removal_narrows_the_parity_gap(planted):
    spec, a = planted
    helpful = [u for u in a.units if u.gap_after_ablation < a.parity_gap]
    assert helpful, [(u.layer, u.unit, u.gap_after_ablation) for u in a.units]
    u = min(helpful, key=lambda u: u.gap_after_ablation)
    assert u.tensor == f"params/{u.layer}/kernel"
    # Zero the unit's incoming weights and bias by hand and measure the gap again.
    params = {k: {kk: np.array(vv) for kk, vv in v.items()} for k, v in spec.params.items()}
    params[u.layer]["kernel"][:, u.unit] = 0
    params[u.layer]["bias"][u.unit] = 0
    gap = _parity_gap(spec, params)
    assert gap == pytest.approx(u.gap_after_ablation, abs=1e-12) and gap < a.parity_gap
    # Its weights to the outputs are the product of the later kernels (ReLU as identity).
    later = [np.asarray(spec.params[n]["kernel"], np.float64) for n in list(spec.params)[list(spec.params).index(u.layer) + 1:]]
    np.testing.assert_allclose(u.out_weights, np.linalg.multi_dot(later)[u.unit] if len(later) > 1 else later[0][u.unit],
                               rtol=1e-6)


def test_control_model_raises_no_bias_alert():
    spec = _credit("control")
    a = bias_phase(spec, Config(), QUIET, TENSORS)
    assert a.flagged == () and a.sensitive_rank[0] > 3
    planted_gap = bias_phase(_credit("planted"), Config(saliency_methods=("gradient",)), QUIET, TENSORS).parity_gap
    assert a.parity_gap < planted_gap / 2


def test_group_rates_and_gaps_by_hand():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3, 400)
    labels = rng.random(400) < 0.5
    pred = rng.random(400) < np.where(groups == 2, 0.2, 0.6)
    rates = b.group_rates(pred, labels, groups)
    assert [r.group for r in rates] == ["0", "1", "2"]
    for r, g in zip(rates, range(3)):
        m = groups == g
        assert r.n == m.sum() and r.positive_rate == pytest.approx(pred[m].mean())
        assert r.tpr == pytest.approx(pred[m & labels].mean()) and r.fpr == pytest.approx(pred[m & ~labels].mean())
        assert r.accuracy == pytest.approx((pred[m] == labels[m]).mean())
    parity, odds = b.gaps(rates)
    pos = [r.positive_rate for r in rates]
    assert parity == pytest.approx(max(pos) - min(pos))
    assert odds == pytest.approx(max(np.ptp([r.tpr for r in rates]), np.ptp([r.fpr for r in rates])))


def test_counterfactual_flip_and_permute():
    x = np.array([[0.0, 1.0], [1.0, 2.0], [0.0, 3.0]], np.float32)
    flipped, kind = b.counterfactual(x, 0, 0)
    assert kind == "flip" and flipped[:, 0].tolist() == [1.0, 0.0, 1.0] and (flipped[:, 1] == x[:, 1]).all()
    permuted, kind = b.counterfactual(x, 1, 0)
    assert kind == "permute" and sorted(permuted[:, 1]) == [1.0, 2.0, 3.0]


def test_sidecar_and_demo_section(tmp_path):
    out, side = tmp_path / "c.html", tmp_path / "c.json"
    assert main(["demo", "credit", "-o", str(out), "--json", str(side), "-q", "--sections", "overview,bias"]) == 0
    data = json.loads(side.read_text())
    bias = data["bias"]
    assert bias["flagged"] == ["group"] and set(bias["attribution_share"]) >= {"group", "income"}
    assert bias["sensitive"][0]["flip_rate"] > 0.05 and bias["units"] and "gap_after_ablation" in bias["units"][0]
    assert bias["flagged_units"] and all(u["gap_after_ablation"] < bias["parity_gap"] for u in bias["flagged_units"])
    assert bias["input_tensor"] == "params/Dense_0/kernel"
    assert any(al["kind"] == "sensitive_feature" for al in data["alerts"])
    html = out.read_text()
    assert 'id="bias-units"' in html and 'id="bias-groups"' in html and "Sensitive feature drives predictions" in html
    digits = tmp_path / "d.json"
    assert main(["demo", "-o", str(tmp_path / "d.html"), "--json", str(digits), "-q", "--sections", "overview,bias"]) == 0
    data = json.loads(digits.read_text())
    assert data["bias"] is None and any("no sensitive_features" in n for n in data["notes"])


def test_unknown_sensitive_feature_is_refused():
    import dataclasses

    spec = _credit("planted")
    with pytest.raises(InputError, match="sensitive feature 'race' is not one of its features"):
        check_spec(dataclasses.replace(spec, sensitive_features=("race",)))


def test_cli_sensitive_features_and_groups_from_inputs(tmp_path, capsys):
    from test_saliency import MODEL_FILE

    (tmp_path / "user_model.py").write_text(MODEL_FILE)
    np.savez(tmp_path / "w.npz", **{"Dense_0/kernel": np.ones((4, 3), np.float32)})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    x[:, 0] = rng.integers(0, 2, 200)
    np.savez(tmp_path / "x.npz", inputs=x, labels=rng.integers(0, 3, 200), groups=x[:, 0].astype(int))
    side = tmp_path / "r.json"
    args = ["report", str(tmp_path / "w.npz"), "--model", f"{tmp_path / 'user_model.py'}:spec", "--inputs",
            str(tmp_path / "x.npz"), "-o", str(tmp_path / "r.html"), "--json", str(side), "-q"]
    assert main(args + ["--sensitive-features", "a"]) == 0
    bias = json.loads(side.read_text())["bias"]
    assert [s["feature"] for s in bias["sensitive"]] == ["a"] and [g["n"] for g in bias["groups"]] == [
        int((x[:, 0] == 0).sum()), int((x[:, 0] == 1).sum())]
    # a linear model: its "expanded" weights are the kernel's row for the feature
    assert list(bias["sensitive"][0]["expanded_weights"].values()) == pytest.approx([0.0, 0.1, 0.2], abs=1e-6)
    assert main(args + ["--sensitive-features", "zzz"]) == 2
    assert "sensitive feature 'zzz' is not one of its features" in capsys.readouterr().err
