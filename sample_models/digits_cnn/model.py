"""Digits CNN sample: a small Flax linen CNN on scikit-learn's bundled 8x8 digits, and its ModelSpec."""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights.msgpack"
CLASS_NAMES = tuple(str(d) for d in range(10))
N_TEST = 360


def make_model():
    import flax.linen as nn

    class DigitsCNN(nn.Module):
        @nn.compact
        def __call__(self, x):  # x: [batch, 8, 8, 1], pixel values in [0, 1]
            x = nn.relu(nn.Conv(16, (3, 3), name="Conv_0")(x))
            x = nn.relu(nn.Conv(32, (3, 3), name="Conv_1")(x))
            x = nn.avg_pool(x, (2, 2), strides=(2, 2))
            x = x.reshape((x.shape[0], -1))
            x = nn.relu(nn.Dense(64, name="Dense_0")(x))
            return nn.Dense(10, name="Dense_1")(x)

    return DigitsCNN()


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test); a fixed permutation, so every run splits alike."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return x[:-N_TEST], y[:-N_TEST], x[-N_TEST:], y[-N_TEST:]


def load_params():
    from flax import serialization

    return serialization.msgpack_restore(WEIGHTS.read_bytes())["params"]


def spec():
    """The ModelSpec reportgen's model-level sections run on: test images and their labels."""
    from reportgen.types import ModelSpec

    model = make_model()
    _, _, x_test, y_test = load_data()
    return ModelSpec(
        apply_fn=lambda params, x: model.apply({"params": params}, x),
        params=load_params(), inputs=x_test, labels=y_test, input_kind="image",
        class_names=CLASS_NAMES, name="digits_cnn",
        intermediates_fn=lambda params, x: model.apply(
            {"params": params}, x, capture_intermediates=True, mutable=["intermediates"])[1]["intermediates"],
    )
