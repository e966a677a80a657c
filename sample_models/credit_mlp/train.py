"""Train the planted and control credit MLPs deterministically; writes weights and metrics.json."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

from model import GROUP_EFFECT, HERE, make_data, make_model, weights_path  # noqa: E402

EPOCHS, BATCH, LR, SEED = 60, 100, 1e-3, 0


def train(variant: str) -> dict:
    start = time.perf_counter()
    x_train, y_train, g_train, x_test, y_test, g_test = make_data(variant)
    model = make_model()
    params = model.init(jax.random.PRNGKey(SEED), x_train[:1])["params"]
    opt = optax.adam(LR)
    opt_state = opt.init(params)

    def loss_fn(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean()

    @jax.jit
    def step(p, s, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    rng = np.random.default_rng(SEED)
    for _ in range(EPOCHS):
        for idx in rng.permutation(len(x_train)).reshape(-1, BATCH):
            params, opt_state, _ = step(params, opt_state, x_train[idx], y_train[idx])
    predict = lambda x: np.asarray(jnp.argmax(model.apply({"params": params}, x), -1))
    pred_test = predict(x_test)
    flat = {f"params/{layer}/{leaf}": np.asarray(v)
            for layer, leaves in jax.device_get(params).items() for leaf, v in leaves.items()}
    save_file(flat, str(weights_path(variant)), metadata={"variant": variant})
    return {"variant": variant, "group_effect": GROUP_EFFECT[variant],
            "train_accuracy": float(np.mean(predict(x_train) == y_train)),
            "test_accuracy": float(np.mean(pred_test == y_test)),
            "test_approval_rate_group0": float(pred_test[g_test == 0].mean()),
            "test_approval_rate_group1": float(pred_test[g_test == 1].mean()),
            "n_train": len(x_train), "n_test": len(x_test), "epochs": EPOCHS,
            "train_seconds": round(time.perf_counter() - start, 1),
            "n_params": int(sum(v.size for v in flat.values()))}


def main() -> None:
    metrics = {v: train(v) for v in GROUP_EFFECT}
    (HERE / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
