"""The bundled sample models: their ModelSpecs run and reach the accuracy their metrics record."""
from __future__ import annotations

import json

import numpy as np
import pytest

from reportgen.resources import resource_dir
from reportgen.samples import SAMPLES, model_spec, weights_path


@pytest.mark.parametrize("target", list(SAMPLES))
def test_spec_reproduces_recorded_accuracy(target):
    spec = model_spec(target)
    logits = np.asarray(spec.apply_fn(spec.params, spec.inputs))
    accuracy = float(np.mean(logits.argmax(-1) == spec.labels))
    metrics = json.loads((weights_path(target).parent / "metrics.json").read_text())
    recorded = metrics["test_accuracy"] if "test_accuracy" in metrics else metrics["planted"]["test_accuracy"]
    assert accuracy == pytest.approx(recorded, abs=1e-6)
    assert len(spec.class_names) == logits.shape[-1]
    inter = spec.intermediates_fn(spec.params, spec.inputs[:2])
    assert inter  # activations are readable for model-level sections


def test_digits_cnn_is_accurate():
    assert json.loads((resource_dir("sample_models") / "digits_cnn" / "metrics.json").read_text())[
        "test_accuracy"] > 0.95


def test_credit_planted_bias_is_real():
    spec = model_spec("credit")
    pred = np.asarray(spec.apply_fn(spec.params, spec.inputs)).argmax(-1)
    gap = pred[spec.groups == 0].mean() - pred[spec.groups == 1].mean()
    assert gap > 0.3 and spec.sensitive_features == ("group",)
