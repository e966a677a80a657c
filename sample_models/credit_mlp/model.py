"""Credit MLP sample: a Flax linen MLP on a generated credit-style table, and its ModelSpec.

The data has a planted dependence on a sensitive feature (`group`): historical approvals were
biased against group 1. `planted` is trained on those labels; `control` on labels generated
without the group term, from the same applicants, so the bias audit has a known answer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FEATURES = ("income", "debt_ratio", "age", "years_employed", "n_accounts", "late_payments",
            "savings", "group")
SENSITIVE = ("group",)
CLASS_NAMES = ("declined", "approved")
GROUP_EFFECT = {"planted": -1.5, "control": 0.0}  # log-odds shift applied to group 1
N, N_TEST = 6000, 1000


def weights_path(variant: str = "planted") -> Path:
    return HERE / f"weights_{variant}.safetensors"


def make_model():
    import flax.linen as nn

    class CreditMLP(nn.Module):
        @nn.compact
        def __call__(self, x):  # x: [batch, 8] standardised features
            x = nn.relu(nn.Dense(32, name="Dense_0")(x))
            x = nn.relu(nn.Dense(16, name="Dense_1")(x))
            return nn.Dense(2, name="Dense_2")(x)

    return CreditMLP()


def make_data(variant: str = "planted", seed: int = 0):
    """(x_train, y_train, g_train, x_test, y_test, g_test); standardised with train statistics."""
    rng = np.random.default_rng(seed)
    group = rng.random(N) < 0.4
    age = rng.uniform(21, 70, N)
    years = np.clip(rng.normal((age - 21) * 0.4, 3), 0, None)
    # Group 1 earns slightly less on average: a proxy the model can also pick up.
    income = rng.lognormal(10.6 - 0.15 * group, 0.45, N)
    debt = np.clip(rng.beta(2, 5, N) + 0.05 * group, 0, 1)
    accounts = rng.poisson(4, N).astype(float)
    late = rng.poisson(0.6 + 0.8 * debt, N).astype(float)
    savings = rng.lognormal(8.5, 1.0, N) * (income / 40000)
    logit = (1.6 * (np.log(income) - 10.6) - 3.5 * (debt - 0.3) + 0.08 * years - 0.9 * late
             + 0.35 * np.log1p(savings / 1000) + 0.1 * (accounts - 4) + 0.4
             + GROUP_EFFECT[variant] * group)
    label = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(np.int32)
    x = np.stack([income, debt, age, years, accounts, late, savings, group.astype(float)], 1)
    x[:, 0], x[:, 6] = np.log(x[:, 0]), np.log1p(x[:, 6])  # money features on a log scale
    train = slice(0, N - N_TEST)
    mu, sd = x[train].mean(0), x[train].std(0)
    x = ((x - mu) / sd).astype(np.float32)
    g = group.astype(np.int32)
    return x[train], label[train], g[train], x[N - N_TEST:], label[N - N_TEST:], g[N - N_TEST:]


def load_params(variant: str = "planted"):
    from safetensors.numpy import load_file

    params: dict = {}
    for name, array in load_file(weights_path(variant)).items():
        _, layer, leaf = name.split("/")  # "params/Dense_0/kernel"
        params.setdefault(layer, {})[leaf] = array
    return params


def spec(variant: str = "planted"):
    """ModelSpec over the held-out applicants, with groups and the sensitive feature named."""
    from reportgen.types import ModelSpec

    model = make_model()
    *_, x_test, y_test, g_test = make_data(variant)
    return ModelSpec(
        apply_fn=lambda params, x: model.apply({"params": params}, x),
        params=load_params(variant), inputs=x_test, labels=y_test, input_kind="tabular",
        class_names=CLASS_NAMES, feature_names=FEATURES, groups=g_test,
        sensitive_features=SENSITIVE, name=f"credit_mlp ({variant})",
        intermediates_fn=lambda params, x: model.apply(
            {"params": params}, x, capture_intermediates=True, mutable=["intermediates"])[1]["intermediates"],
    )


def control_spec():
    return spec("control")
